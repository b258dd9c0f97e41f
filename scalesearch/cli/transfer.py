"""`scalesearch transfer`: does a grid's phi = 1 ranking hold when the family grows to phi?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from scalesearch.cli.app import FormatOption, OutputFormat, command, command_line, print_json, print_table, stderr
from scalesearch.cli.options import DeviceOption, MaxMemoryOption, shared_parts
from scalesearch.cli.progress import UnitProgress, duration
from scalesearch.costs.guard import set_memory_budget
from scalesearch.report.registry import rebuild
from scalesearch.report.transfer import ranking_frame, where
from scalesearch.transfer import TransferEvents, TransferPoint, TransferRequest, run_transfer


@command("transfer", "scalesearch transfer --from runs/grid-mobilenetv2 --phi 2 --top 4 --seeds 4 --threads 2")
def transfer(
    from_dir: Annotated[Path, typer.Option("--from", help="A finished `scalesearch grid` run directory: its ranking, budget, data and cost band.")],
    phi: Annotated[float, typer.Option(help="Grow every point to this phi (> 1) and rank them again; 1 with --budget-scale F > 1 is a fidelity check: the grid's contenders, top K and a spread of its other points retrained F x longer.")] = 2.0,
    top: Annotated[int, typer.Option(help="The grid's top K points by mean validation accuracy (plus the paper's (1.2, 1.1, 1.15) and the best single-dimension point where not among them).")] = 4,
    seeds: Annotated[int, typer.Option(help="Trainings per point at phi (seed k is the grid's seed k); 4 decide a 3-sd gap to the phi = 1 winner in 85 %+ of simulated runs (benchmarks/calibration.py), 2 in 35-57 %.")] = 4,
    budget_scale: Annotated[float, typer.Option(help="Train phi's members for the grid's epochs x F^phi (1 = the grid's budget).")] = 1.0,
    confidence: Annotated[float, typer.Option(help="Confidence of the intervals, the separation tests and tau's range.")] = 0.9,
    out: Annotated[Optional[Path], typer.Option(help="Run directory (default runs/transfer-BASELINE-phiP, or runs/fidelity-BASELINE-xF): run.json, units.jsonl, transfer.csv/json, report.md/html. Rerun to resume.")] = None,
    device: DeviceOption = "auto",
    data_dir: Annotated[Optional[str], typer.Option(help="Folder holding the grid's data source's files on this host (default: the grid's).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="CPU threads for training (default: all free cores).")] = None,
    max_memory: MaxMemoryOption = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Grow a grid's best points to phi at matched cost, train them, and say whether the phi = 1 winner still wins
    (at --phi 1 --budget-scale F: whether it wins at F times the grid's epochs)."""
    set_memory_budget(max_memory)
    request = TransferRequest(from_dir=from_dir, phi=phi, top=top, seeds=seeds, budget_scale=budget_scale,
                              confidence=confidence, out=out, command=command_line(),
                              **shared_parts(TransferRequest, locals()))
    document = run_transfer(request, ProgressEvents())
    run_dir = Path(document["out"])
    written = [run_dir / "transfer.csv", run_dir / "transfer.json", *rebuild(run_dir).values()]
    stderr.print(f"transfer: wrote {', '.join(str(p) for p in written)}")
    if format is OutputFormat.json:
        print_json(document)
        return
    print_table(rankings_table(document))
    typer.echo(document["verdict"]["sentence"])


class ProgressEvents(UnitProgress, TransferEvents):
    """A line per grown point, then the units' bar (cli/progress.py)."""

    def __init__(self) -> None:
        super().__init__("transfer")

    def grown(self, point: TransferPoint) -> None:
        m = point.member
        band = "" if point.within_tolerance else f" (outside ±{point.tolerance:.0%}: rounding leaves no closer network)"
        stderr.print(f"  {point.chosen.label} [{', '.join(point.chosen.roles)}] at φ={m.plan.phi:g}: "
                     f"t={m.t:.3g}, {m.flops_ratio:.2f}x the baseline's FLOPs, target {m.target_ratio:.2f}x{band}",
                     markup=False)

    def planned(self, points, todo, finished, estimates) -> None:
        stderr.print(f"transfer: {len(points)} points, {len(todo)} units to train ({finished} already done), "
                     f"estimated {duration(sum(estimates.values()))}")
        self.begin(len(todo), estimates)


def rankings_table(document: dict) -> Table:
    frame = ranking_frame(document).drop(columns=["why", "seeds φ=1", "seeds φ"])
    table = Table(title=f"{document['baseline']}: rank at φ = 1 (the grid) and at {where(document)}; "
                        f"val accuracy ± half its {document['config']['confidence']:.0%} interval, proxy shape")
    for column in frame.columns:
        table.add_column(str(column), justify="left" if column == "point (α, β, γ)" else "right", no_wrap=True)
    for row in frame.itertuples(index=False):
        table.add_row(*[str(v) for v in row])
    return table
