"""`scalesearch train`: one proxy training of one scaled baseline, with its metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from scalesearch.costs.guard import set_memory_budget
from scalesearch.cli.app import (BaselineOption, FormatOption, OutputFormat, command, command_line, emit,
                                 fail, stderr)
from scalesearch.cli.options import (MaxMemoryOption, AlphaOption, BatchSizeOption, BetaOption, DataDirOption, DataOption,
                                     DepthOption, DeviceOption, EpochsOption, GammaOption, LrOption,
                                     PhiOption, ProxyOption, TestImagesOption, TrainImagesOption, ValImagesOption,
                                     WeightsFromOption, WeightsOption, WidthOption, shared_parts)
from scalesearch.costs.profile import resolve_multipliers
from scalesearch.train import CHECKPOINT, METRICS, TrainEvents, TrainRequest, run_train


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
    proxy: ProxyOption = None,
    optimizer: Annotated[str, typer.Option(help="sgd (Nesterov momentum) or rmsprop.")] = "sgd",
    seed: Annotated[int, typer.Option(help="Seed for the validation split, the subset, the weights and the batches.")] = 0,
    device: DeviceOption = "auto",
    max_memory: MaxMemoryOption = None,
    weights: WeightsOption = None,
    weights_from: WeightsFromOption = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads per process (default: the cores available to this process, divided by --nproc).")] = None,
    nproc: Annotated[int, typer.Option(help="Train in N processes (torch.distributed: gloo on CPU, nccl with one GPU each); same global batch and schedule as one.")] = 1,
    out: Annotated[Optional[Path], typer.Option(help=f"Run folder: {CHECKPOINT} (weights, optimizer, NetSpec) after each epoch and {METRICS}.")] = None,
    resume: Annotated[bool, typer.Option(help="Continue the run in --out from its last finished epoch.")] = False,
    progress: Annotated[Optional[bool], typer.Option(help="Progress bar on stderr (default: when stderr is a terminal).")] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Proxy-train a baseline (optionally scaled) and report validation and test accuracy."""
    set_memory_budget(max_memory)
    d, w, r, px = resolve_multipliers(depth, width, resolution, phi, alpha, beta, gamma)
    request = TrainRequest(baseline=baseline, depth=d, width=w, resolution_mult=r, pixels=px, optimizer=optimizer,
                           nproc=nproc, out=out, resume=resume, command=command_line(), weights=weights,
                           weights_from=weights_from, **shared_parts(TrainRequest, locals()))
    display = ProgressDisplay(stderr.is_terminal if progress is None else progress)
    try:
        result = run_train(request, display)
    finally:
        display.close()
    emit(format, result, lambda: _table(result))
    if result["status"] == "diverged":
        fail(result["message"])
    if result["status"] != "ok":  # it finished, but a search would not rank it
        stderr.print(f"warning: this training failed to train ({result['message']}): a search would not rank it; "
                     f"`scalesearch calibrate --baseline {baseline}` finds a recipe under which it trains", markup=False)


class ProgressDisplay(TrainEvents):
    """A step bar on stderr (when enabled) and notes as lines."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.bar, self.task = enabled, None, None

    def step(self, done: int, total: int, info: str) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            self.bar = Progress(TextColumn("[bold]train"), BarColumn(), MofNCompleteColumn(), TextColumn("steps"),
                                TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
                                console=Console(stderr=True), transient=False)
            self.bar.start()
            self.task = self.bar.add_task("train", total=total, completed=done, info=info)
        self.bar.update(self.task, completed=done, info=info)

    def note(self, text: str) -> None:
        stderr.print(f"note: {text}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _table(m: dict) -> Table:
    table = Table(title=f"{m['baseline']} (d={m['depth']:.3g}, w={m['width']:.3g}, r={m['resolution_mult']:.3g}) "
                        f"on {m['data']} at {m['proxy_resolution']}px")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("status", m["status"])
    table.add_row("val accuracy (held out of train)", _pct(m["val_accuracy"]))
    table.add_row("test accuracy (reported only)",
                  _pct(m["test_accuracy"]) if m["test_images"] else "not measured (no test images)")
    table.add_row("epochs / steps", f"{m['epochs']} / {m['steps']}")
    table.add_row("train images / val / test", f"{m['train_images']:,} / {m['val_images']:,} / {m['test_images']:,}")
    ranks = f" x {m['processes']} processes" if m.get("processes", 1) > 1 else ""
    table.add_row("throughput (train)", f"{m['images_per_second']:.0f} img/s on {m['device']}{ranks}")
    if m.get("layout_rates"):
        rates = ", ".join(f"{name} {rate:.0f}" for name, rate in m["layout_rates"].items())
        table.add_row("memory format", f"{m['layout']} (measured {rates} img/s"
                      f"{'' if m.get('layout_measured') else ', cached'})")
    table.add_row("seconds", f"{m['seconds']:.1f}")
    table.add_row(f"params, deployment ({m['deployment_resolution']}px)", f"{m['params']:,}")
    table.add_row(f"FLOPs, deployment ({m['deployment_resolution']}px)", f"{m['flops']:,}")
    table.add_row(f"params, proxy ({m['proxy_resolution']}px, {m['proxy_shape']})", f"{m['proxy_params']:,}")
    table.add_row(f"FLOPs, proxy ({m['proxy_resolution']}px)", f"{m['proxy_flops']:,}")
    return table


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.2%}"  # NaN after divergence
