"""`scalesearch train`: one proxy training of one scaled baseline, with its metrics.

Two shapes, kept apart: the network trains at the *proxy* shape (the data's channels and
classes, `--resolution` px, by default the space's proxy resolution x r); `params` and
`flops` in the output are the *deployment* shape's (the space's native resolution x r,
3 channels, 1000 classes), with the proxy shape's cost beside them as `proxy_params` and
`proxy_flops`.

`--nproc N` trains the same run in N processes (scalesearch.training.distributed): this process
checks the options, launches the ranks, and prints what rank 0 hands back; rank 0 writes
--out.  A run killed at any point continues with `--resume` (with any --nproc).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from scalesearch.training import distributed
from scalesearch.cli.app import (BaselineOption, FormatOption, OutputFormat, command, emit,
                                 fail, stderr)
from scalesearch.cli.options import (AlphaOption, BatchSizeOption, BetaOption, DataDirOption, DataOption,
                                     DepthOption, DeviceOption, EpochsOption, GammaOption, LrOption,
                                     PhiOption, TestImagesOption, TrainImagesOption, ValImagesOption,
                                     WidthOption)
from scalesearch.training.data import load_data
from scalesearch.errors import UserError
from scalesearch.measure.profile import resolve_device, resolve_multipliers
from scalesearch.runs.files import write_json
from scalesearch.spec.spaces import SearchSpace, load_space
from scalesearch.training.loop import ProxyBudget, available_cores, train_model
from scalesearch.measure.variant import Variant

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.json"


@command("train", "scalesearch train --baseline efficientnet-b0 --data fashion-mnist --epochs 1 --train-images 4096 --resolution 32")
def train(
    baseline: BaselineOption,
    depth: DepthOption = None,
    width: WidthOption = None,
    resolution: Annotated[Optional[int], typer.Option(help="Proxy training resolution in px (default: the space's proxy resolution x r, e.g. 32).")] = None,
    phi: PhiOption = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    epochs: EpochsOption = None,
    train_images: TrainImagesOption = None,
    val_images: ValImagesOption = 2000,
    test_images: TestImagesOption = None,
    batch_size: BatchSizeOption = None,
    lr: LrOption = None,
    optimizer: Annotated[str, typer.Option(help="sgd (Nesterov momentum) or rmsprop.")] = "sgd",
    seed: Annotated[int, typer.Option(help="Seed for the validation split, the subset, the weights and the batches.")] = 0,
    device: DeviceOption = "auto",
    threads: Annotated[Optional[int], typer.Option(help="CPU threads per process (default: the cores available to this process, divided by --nproc).")] = None,
    nproc: Annotated[int, typer.Option(help="Train in N processes (torch.distributed: gloo on CPU, nccl with one GPU each); same global batch and schedule as one.")] = 1,
    out: Annotated[Optional[Path], typer.Option(help=f"Run folder: {CHECKPOINT} (weights, optimizer, NetSpec) after each epoch and {METRICS}.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last finished epoch.")] = False,
    progress: Annotated[Optional[bool], typer.Option(help="Progress bar on stderr (default: when stderr is a terminal).")] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Proxy-train a baseline (optionally scaled) and report validation and test accuracy."""
    d, w, r, px = resolve_multipliers(depth, width, resolution, phi, alpha, beta, gamma)
    options = dict(data=data, data_dir=data_dir, epochs=epochs, train_images=train_images,
                   val_images=val_images, test_images=test_images, batch_size=batch_size, lr=lr,
                   optimizer=optimizer, seed=seed, device=device, threads=threads, out=out, resume=resume,
                   progress=stderr.is_terminal if progress is None else progress)
    if nproc == 1:
        result = run_train(load_space(baseline), d, w, r, px, **options)
    else:
        result = launch_train(baseline, d, w, r, px, nproc=nproc, **options)
    emit(format, result, lambda: _table(result))
    if result["status"] != "ok":
        fail(result["message"])


def launch_train(baseline: str, d: float, w: float, r: float, pixels: int | None, *, nproc: int,
                 **options: Any) -> dict[str, Any]:
    """Check what can be checked here (one-line errors), then run `run_train` in `nproc` ranks."""
    space = load_space(baseline)
    cores = available_cores()
    dev = resolve_device(options["device"])
    distributed.check_nproc(nproc, dev.type, cores)
    if options["threads"] is None and dev.type == "cpu":
        options["threads"] = max(1, cores // nproc)
    elif options["threads"] is not None and options["threads"] < 1:
        raise UserError(f"--threads must be >= 1, got {options['threads']}")
    ProxyBudget.for_space(space.proxy, epochs=options["epochs"], train_images=options["train_images"],
                          batch_size=options["batch_size"], lr=options["lr"],
                          optimizer=options["optimizer"], seed=options["seed"],
                          val_images=options["val_images"])  # validates before any rank starts
    _prepare_out(options["out"], options["resume"])
    return distributed.launch("scalesearch.cli.train:_train_rank",
                              {"baseline": baseline, "d": d, "w": w, "r": r, "pixels": pixels, **options},
                              nproc, dev.type)


def _train_rank(baseline: str, d: float, w: float, r: float, pixels: int | None, **options: Any) -> dict:
    """One rank of `launch_train` (in its own process, inside the process group)."""
    return run_train(load_space(baseline), d, w, r, pixels, **options)
def run_train(space: SearchSpace, d: float, w: float, r: float, pixels: int | None, *,
              data: str, data_dir: str | None, epochs: int | None, train_images: int | None,
              val_images: int, test_images: int | None, batch_size: int | None, lr: float | None,
              optimizer: str, seed: int, device: str, threads: int | None, out: Path | None,
              resume: bool, progress: bool) -> dict[str, Any]:
    """Train one variant at the proxy shape; return (and with --out, write) its metrics.

    In a process group every rank calls this; the launcher has prepared --out already.
    """
    budget = ProxyBudget.for_space(space.proxy, epochs=epochs, train_images=train_images,
                                   batch_size=batch_size, lr=lr, optimizer=optimizer, seed=seed,
                                   val_images=val_images)
    if distributed.world_size() == 1:
        checkpoint = _prepare_out(out, resume)
    else:
        checkpoint = None if out is None else out / CHECKPOINT
    dev = resolve_device(device)
    images = load_data(data, data_dir, train_images=budget.train_images, val_images=budget.val_images,
                       test_images=test_images, seed=seed)
    deployment = Variant(space, d, w, r)
    proxy = deployment.at_proxy(space.proxy_resolution, images.in_channels,
                                images.num_classes)
    if pixels is not None:
        if pixels < 8:
            raise UserError(f"--resolution must be >= 8 px, got {pixels}")
        proxy = replace(proxy, resolution=pixels)
    if proxy.spec is not None:
        proxy.spec.validate()  # names the field when the resolution is too small for the strides
    model = proxy.build(seed)
    extra = {"spec": proxy.spec.to_dict() if proxy.spec else None, "variant": proxy.describe(),
             "data": images.describe()}
    result = train_model(model, images, proxy.resolution, budget, device=dev, progress=progress,
                         threads=threads, checkpoint=checkpoint, resume=resume, checkpoint_extra=extra)
    proxy_cost, deploy_cost = proxy.cost(), deployment.cost()
    metrics = {
        "baseline": space.name, "depth": d, "width": w, "resolution_mult": r,
        **{k: v for k, v in result.as_dict().items() if k != "resolution"},
        "proxy_resolution": proxy.resolution,
        "params": deploy_cost.params, "flops": deploy_cost.flops, "flops_shape": "deployment",
        "deployment_resolution": deployment.resolution, "deployment_shape": "3 channels, 1000 classes",
        "proxy_params": proxy_cost.params, "proxy_flops": proxy_cost.flops,
        "proxy_shape": f"{images.in_channels} channels, {images.num_classes} classes",
        **images.describe(), "budget": budget.as_dict(),
        "spec": extra["spec"],
    }
    metrics["train_images"] = result.train_images
    if out is not None and distributed.is_main():
        write_json(out / METRICS, metrics)  # atomic: a reader never sees half a file
    return metrics


def _prepare_out(out: Path | None, resume: bool) -> Path | None:
    if out is None:
        if resume:
            raise UserError("--resume needs --out DIR (the folder of the run to continue)")
        return None
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder")
    checkpoint = out / CHECKPOINT
    if checkpoint.exists() and not resume:
        raise UserError(f"--out {out} already holds a run; add --resume to continue it, or choose another --out")
    if resume and not checkpoint.exists():
        stderr.print(f"note: no {CHECKPOINT} in {out} yet; starting from epoch 1")
    out.mkdir(parents=True, exist_ok=True)
    return checkpoint


def _table(m: dict) -> Table:
    table = Table(title=f"{m['baseline']} (d={m['depth']:.3g}, w={m['width']:.3g}, r={m['resolution_mult']:.3g}) "
                        f"on {m['data']} at {m['proxy_resolution']}px")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("status", m["status"])
    table.add_row("val accuracy (held out of train)", _pct(m["val_accuracy"]))
    table.add_row("test accuracy (reported only)", _pct(m["test_accuracy"]))
    table.add_row("epochs / steps", f"{m['epochs']} / {m['steps']}")
    table.add_row("train images / val / test", f"{m['train_images']:,} / {m['val_images']:,} / {m['test_images']:,}")
    ranks = f" x {m['processes']} processes" if m.get("processes", 1) > 1 else ""
    table.add_row("throughput (train)", f"{m['images_per_second']:.0f} img/s on {m['device']}{ranks}")
    table.add_row("seconds", f"{m['seconds']:.1f}")
    table.add_row(f"params, deployment ({m['deployment_resolution']}px)", f"{m['params']:,}")
    table.add_row(f"FLOPs, deployment ({m['deployment_resolution']}px)", f"{m['flops']:,}")
    table.add_row(f"params, proxy ({m['proxy_resolution']}px, {m['proxy_shape']})", f"{m['proxy_params']:,}")
    table.add_row(f"FLOPs, proxy ({m['proxy_resolution']}px)", f"{m['proxy_flops']:,}")
    return table


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.2%}"  # NaN after divergence
