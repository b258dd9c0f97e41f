"""`scalesearch calibrate`: a proxy recipe under which a baseline and its hardest variants all train."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from scalesearch.calibrate import CalibrateEvents, CalibrateRequest, Plan, run_calibrate
from scalesearch.cli.app import BaselineOption, FormatOption, OutputFormat, command, command_line, print_json, print_table, stderr
from scalesearch.cli.options import (BatchSizeOption, DataDirOption, DataOption, DeviceOption, EpochsOption,
                                     MaxMemoryOption, TrainImagesOption, ValImagesOption, shared_parts)
from scalesearch.cli.progress import UnitProgress, duration
from scalesearch.costs.guard import set_memory_budget
from scalesearch.report.registry import rebuild

Opt = typer.Option


@command("calibrate", "scalesearch calibrate --baseline resnet50 --table3 --out runs/calibrate-resnet50")
def calibrate(
    baseline: BaselineOption,
    out: Annotated[Optional[Path], Opt(help="Run directory (default runs/calibrate-BASELINE): units.jsonl, calibrate.json, proxy.yaml, report.md/html. Rerun to resume or to add recipes and seeds.")] = None,
    lrs: Annotated[Optional[str], Opt(help="Peak learning rates to try (default: the space's lr x 1, 1/2, 1/4).")] = None,
    warmups: Annotated[Optional[str], Opt(help="Warm-up lengths to try, as shares of the steps (default: the space's and 0.33).")] = None,
    readouts: Annotated[Optional[str], Opt(help="Classifier lr rules to try: 0 = the peak lr, N = lr x min(1, N / its fan-in) (default: the space's).")] = None,
    seeds: Annotated[int, Opt(help="Seeds per network under each recipe that passes seed 0 (at least 2: the residual noise needs them).")] = 2,
    table3: Annotated[bool, Opt("--table3", help="Also train compare's Table 3 variants (depth x4, width x2, resolution x2, compound 1.4/1.2/1.3): 4x the baseline's cost each.")] = False,
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    epochs: EpochsOption = None,
    train_images: TrainImagesOption = None,
    val_images: ValImagesOption = 2000,
    batch_size: BatchSizeOption = None,
    seed: Annotated[int, Opt(help="Base seed: seed s of every network is seed + s (its split, order, crops, init).")] = 0,
    device: DeviceOption = "auto",
    threads: Annotated[Optional[int], Opt(help="CPU threads for training (default: every free core).")] = None,
    max_memory: MaxMemoryOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Find a proxy recipe under which the baseline and the networks most likely to fail all train.

    Trains the baseline and the grid's deepest, widest and highest-resolution phi = 1 members (--table3: also compare's Table 3 variants) under every recipe of a bracket of peak learning rates x warm-ups x classifier lr rules; a recipe with a unit that blows up or stays at chance is dropped at once. Of the recipes under which every unit trained, the one with the lowest residual noise is written to DIR/proxy.yaml: pass it to grid, compare or train as --proxy FILE. Cost: at most recipes x networks x seeds trainings (a failing recipe stops at its first failure); the up-front line gives the estimate.
    """
    set_memory_budget(max_memory)
    request = CalibrateRequest(baseline=baseline, out=out, lrs=lrs, warmups=warmups, readouts=readouts, seeds=seeds,
                               table3=table3, command=command_line(), **shared_parts(CalibrateRequest, locals()))
    document = run_calibrate(request, ProgressEvents())
    run_dir = Path(document["out"])
    written = [run_dir / "calibrate.json", *([run_dir / "proxy.yaml"] if document["chosen"] else []),
               *rebuild(run_dir).values()]
    stderr.print(f"calibrate: wrote {', '.join(str(p) for p in written)}")
    if format is OutputFormat.json:
        print_json(document)
        return
    print_table(recipes_table(document))
    typer.echo(document["outcome"])
    if document["chosen"]:
        typer.echo(f"recipe -> {run_dir / 'proxy.yaml'}  (scalesearch grid --baseline {baseline} --proxy "
                   f"{run_dir / 'proxy.yaml'})")


class ProgressEvents(UnitProgress, CalibrateEvents):
    """The plan in one line, then the units' bar and a line per unit (cli/progress.py)."""

    def __init__(self) -> None:
        super().__init__("calibrate")

    def planned(self, plan: Plan) -> None:
        stderr.print(f"calibrate {plan.space.name}: {len(plan.recipes)} recipes x {len(plan.networks)} networks x "
                     f"{plan.seeds} seeds; {plan.todo} units to train at most, estimated "
                     f"{duration(sum(plan.estimates.values()))} (a recipe stops at its first failed unit)")
        self.begin(plan.todo, plan.estimates)

    def dropped(self, recipe, why: str) -> None:
        stderr.print(f"  {recipe.key}: dropped ({why})", markup=False)


def recipes_table(document: dict) -> Table:
    table = Table(title=f"proxy recipes for {document['baseline']} ({document['seeds']} seeds per network)")
    for column in ("recipe", "passed", "noise (points)", "mean val acc", "first failure"):
        table.add_column(column, justify="left" if column in ("recipe", "first failure") else "right")
    for row in document["recipes"]:
        chosen = " (chosen)" if row["recipe"] == document["chosen"] else ""
        table.add_row(row["recipe"] + chosen, "yes" if row["passed"] else ("no" if row["failure"] else "not run"),
                      "" if row["noise_sd"] is None else f"{row['noise_sd'] * 100:.2f} ({row['noise_df']} df)",
                      "" if row["mean_accuracy"] is None else f"{row['mean_accuracy']:.2%}",
                      row["failure"] or "")
    return table
