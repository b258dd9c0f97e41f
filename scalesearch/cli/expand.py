"""`scalesearch expand`: the scaled family for a phi list, its files and its report."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scalesearch.cli.app import BaselineOption, FormatOption, OutputFormat, command, emit, stderr
from scalesearch.cli.options import (AlphaOption, BatchSizeOption, BetaOption, DataDirOption, DataOption,
                                     DeviceOption, EpochsOption, GammaOption, LrOption, TrainImagesOption)
from scalesearch.expand import expand_family, parse_phis, phi_label, plan_family, train_family
from scalesearch.measure.profile import resolve_device
from scalesearch.report.expand import save_expand_run
from scalesearch.spec.spaces import load_space


@command("expand", "scalesearch expand --baseline efficientnet-b0 --phi 0..7 --preset paper --exact-flops")
def expand(
    baseline: BaselineOption,
    phi: Annotated[Optional[str], typer.Option(help="Members: a range 0..7 / -2..3 or a list 1,2,4 / 0.5,1.5 [default: 0..7].")] = None,
    preset: Annotated[Optional[str], typer.Option(help="paper (alpha 1.2, beta 1.1, gamma 1.15) or efficientnet-official (the published B0..B7 table).")] = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    from_dir: Annotated[Optional[Path], typer.Option("--from", help="A `scalesearch grid` output directory: use its best.json.")] = None,
    exact_flops: Annotated[bool, typer.Option(help="Move each member's resolution (then width) so measured FLOPs are within 3% of baseline x nominal.")] = False,
    latency: Annotated[bool, typer.Option(help="Also time a batch-1 forward pass per member.")] = False,
    train: Annotated[bool, typer.Option(help="Proxy-train every member (the space's proxy budget) and report accuracy.")] = False,
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    epochs: EpochsOption = None,
    train_images: TrainImagesOption = None,
    batch_size: BatchSizeOption = None,
    lr: LrOption = None,
    seed: Annotated[int, typer.Option(help="With --train: seed for data split, order and init.")] = 0,
    device: DeviceOption = "auto",
    out: Annotated[Optional[Path], typer.Option(help="Output directory [default: runs/expand-<baseline>].")] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Grow a baseline with fixed alpha, beta, gamma over a phi list; write specs, tables and a report."""
    space = load_space(baseline)
    plan = plan_family(space, parse_phis(phi) if phi is not None else None, preset=preset,
                       alpha=alpha, beta=beta, gamma=gamma, from_dir=from_dir)
    dev = str(resolve_device(device)) if (latency or train) else None
    out = out or Path("runs") / f"expand-{re.sub(r'[^A-Za-z0-9_.-]+', '-', space.name)}"
    with _progress(len(plan.members) * (2 if train else 1)) as (progress, task):
        def measured(member) -> None:
            progress.update(task, advance=1, description=f"measured φ={phi_label(member.plan.phi)}")
        family = expand_family(space, plan, exact_flops=exact_flops,
                               latency_device=dev if latency else None, on_member=measured)
        if train:
            def trained(member) -> None:
                progress.update(task, advance=1, description=f"trained φ={phi_label(member.plan.phi)}")
            train_family(family, data_name=data, data_dir=data_dir, device=dev, on_member=trained,
                         budget_overrides={"epochs": epochs, "train_images": train_images,
                                           "batch_size": batch_size, "lr": lr, "seed": seed})
    payload = save_expand_run(family, out)  # files first: a broken pipe on stdout loses nothing
    payload["out"] = str(out)
    emit(format, payload, lambda: _table(payload, out))


def _progress(total: int):
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=stderr, transient=True)

    class _Context:
        def __enter__(self):
            progress.start()
            return progress, progress.add_task("measuring", total=total)

        def __exit__(self, *exc) -> None:
            progress.stop()

    return _Context()


def _table(payload: dict, out: Path) -> Table:
    trained = any(m.get("val_accuracy") is not None for m in payload["members"])
    table = Table(title=f"{payload['baseline']} family — {payload['coefficient_source']} "
                        f"(deployment shape; written to {out})")
    columns = ["φ", "d", "w", "px", "params", "GFLOPs", "measured ×", "nominal ×", "adjustment"]
    if trained:
        columns += ["val acc", "test acc"]
    for column in columns:
        table.add_column(column, justify="left" if column == "adjustment" else "right")
    for m in payload["members"]:
        row = [str(m["phi"]), f"{m['depth']:.3f}", f"{m['width']:.3f}", str(m["resolution"]),
               f"{m['params']:,}", f"{m['flops'] / 1e9:.3f}", f"{m['flops_ratio']:.3f}",
               f"{m['nominal_ratio']:.3f}", m.get("adjustment") or ""]
        if trained:
            row += [f"{m['val_accuracy']:.1%}", f"{m['test_accuracy']:.1%}"]
        table.add_row(*row)
    return table
