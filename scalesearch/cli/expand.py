"""`scalesearch expand`: the scaled family for a phi list, its files and its report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from scalesearch.costs.guard import set_memory_budget
from scalesearch.costs.kinds import cost_help
from scalesearch.cli.app import BaselineOption, FormatOption, OutputFormat, command, command_line, emit, stderr
from scalesearch.cli.options import (MaxMemoryOption, AlphaOption, BatchSizeOption, BetaOption, DataDirOption, DataOption,
                                     DeviceOption, EpochsOption, GammaOption, LatencyDeviceOption, LrOption, TrainImagesOption,
                                     WeightsFromOption, WeightsOption, shared_parts)
from scalesearch.expand import ExpandEvents, ExpandRequest, run_expand
from scalesearch.report.expand import growth_line
from scalesearch.report.registry import rebuild
from scalesearch.spec.phis import phi_label


@command("expand", "scalesearch expand --baseline efficientnet-b0 --phi 0..7 --preset paper --exact-flops")
def expand(
    baseline: BaselineOption,
    phi: Annotated[Optional[str], typer.Option(help="Members: a range 0..7 / -2..3 or a list 1,2,4 / 0.5,1.5 [default: 0..7].")] = None,
    preset: Annotated[Optional[str], typer.Option(help="paper (alpha 1.2, beta 1.1, gamma 1.15), efficientnet-official (the published B0..B7 table), or fast[:A] (Dollar et al.'s fast scaling, A = 0.8 by default: d, w, r = s^((1-A)/2), s^(A/2), s^((1-A)/4) with s = 2^phi, landed).")] = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    from_dir: Annotated[Optional[Path], typer.Option("--from", help="A `scalesearch grid` output directory: use its best.json.")] = None,
    pick: Annotated[str, typer.Option(help="With --from: the grid's leader (best), its smooth fit (fit) where the grid's report recommends it, the contender its tie-break recommends (recommended), or the K-th point of its Pareto front, cheapest first (front:K).")] = "best",
    force_coefficients: Annotated[bool, typer.Option(help="With --from: accept a grid made for another baseline.")] = False,
    land: Annotated[bool, typer.Option(help="Land member phi on growth^phi x the baseline's FLOPs (+-5%) by moving along (alpha, beta, gamma)^t; growth = the grid's target or the given coefficients' product. Presets stay as published.")] = True,
    exact_flops: Annotated[bool, typer.Option("--exact-flops/--no-exact-flops", "--exact-cost", help="Then move each member's resolution (then width) so its measured --cost is within 3% of the target (--exact-cost; --exact-flops with the default cost).")] = False,
    cost: Annotated[str, typer.Option(help=f"What --exact-cost lands on. {cost_help()}.")] = "flops",
    latency: Annotated[bool, typer.Option(help="Also time each member's forward pass (--latency-threads, --latency-batch).")] = False,
    latency_threads: Annotated[int, typer.Option(help="Threads for latency timing (1: the paper's convention).")] = 1,
    latency_batch: Annotated[int, typer.Option(help="Batch size for latency timing.")] = 1,
    latency_device: LatencyDeviceOption = None,
    train: Annotated[bool, typer.Option(help="Proxy-train every member (the space's proxy budget) and report accuracy.")] = False,
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    epochs: EpochsOption = None,
    train_images: TrainImagesOption = None,
    batch_size: BatchSizeOption = None,
    lr: LrOption = None,
    seed: Annotated[int, typer.Option(help="With --train: seed for data split, order and init.")] = 0,
    device: DeviceOption = "auto",
    weights: WeightsOption = None,
    weights_from: WeightsFromOption = None,
    max_memory: MaxMemoryOption = None,
    out: Annotated[Optional[Path], typer.Option(help="Output directory [default: runs/expand-<baseline>].")] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Grow a baseline with fixed alpha, beta, gamma over a phi list; write specs, tables and a report."""
    set_memory_budget(max_memory)
    request = ExpandRequest(baseline=baseline, phi=phi, preset=preset, alpha=alpha, beta=beta, gamma=gamma,
                            from_dir=from_dir, pick=pick, force_coefficients=force_coefficients, land=land,
                            exact_flops=exact_flops, cost=cost, latency=latency, train=train, weights=weights,
                            weights_from=weights_from, out=out, command=command_line(),
                            **shared_parts(ExpandRequest, locals()))
    display = ProgressDisplay()
    try:
        payload = run_expand(request, display)
    finally:
        display.close()
    out = Path(payload["out"])
    rebuild(out)  # files first: a broken pipe on stdout loses nothing
    emit(format, payload, lambda: _table(payload, out))
    if format is OutputFormat.table:
        print(last_line(payload, out))


class ProgressDisplay(ExpandEvents):
    """One bar on stderr: members measured, then members trained."""

    def __init__(self) -> None:
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=stderr, transient=True)
        self.task = None

    def planned(self, plan, steps: int) -> None:
        self.progress.start()
        self.task = self.progress.add_task("measuring", total=steps)

    def measured(self, member) -> None:
        self.progress.update(self.task, advance=1, description=f"measured φ={phi_label(member.plan.phi)}")

    def trained(self, member) -> None:
        self.progress.update(self.task, advance=1, description=f"trained φ={phi_label(member.plan.phi)}")

    def close(self) -> None:
        self.progress.stop()


def last_line(payload: dict, out: Path) -> str:
    """The run in one line, as grid ends: whose family, from where, where it went."""
    c = payload.get("coefficients")
    whose = (f"alpha={c['alpha']:g} beta={c['beta']:g} gamma={c['gamma']:g} from {payload['coefficient_source']}"
             if c else payload["coefficient_source"])
    phis = [m["phi"] for m in payload["members"]]
    run = len(phis) > 2 and phis == list(range(int(phis[0]), int(phis[0]) + len(phis)))
    listed = f"{phis[0]}..{phis[-1]}" if run else ", ".join(phi_label(p) for p in phis)
    last = max(payload["members"], key=lambda m: m["phi"])
    return (f"family of {whose}: φ = {listed}; φ = {phi_label(last['phi'])} costs "
            f"{last['flops_ratio']:.1f}x the baseline  ->  {out / 'family.json'}, {out / 'report.md'}")


def _table(payload: dict, out: Path) -> Table:
    trained = any(m.get("val_accuracy") is not None for m in payload["members"])
    table = Table(title=f"{payload['baseline']} family — {payload['coefficient_source']} "
                        f"(deployment shape; written to {out})", caption=growth_line(payload))
    columns = ["φ", "t", "d", "w", "px", "params", "GFLOPs", "measured ×", "target ×", "adjustment"]
    if trained:
        columns += ["val acc", "test acc"]
    for column in columns:
        table.add_column(column, justify="left" if column == "adjustment" else "right")
    for m in payload["members"]:
        row = [str(m["phi"]), "" if m["t"] is None else f"{m['t']:g}", f"{m['depth']:.3f}",
               f"{m['width']:.3f}", str(m["resolution"]), f"{m['params']:,}", f"{m['flops'] / 1e9:.3f}",
               f"{m['flops_ratio']:.3f}", f"{m['target_ratio']:.3f}", m.get("adjustment") or ""]
        if trained:
            row += [f"{m['val_accuracy']:.1%}", f"{m['test_accuracy']:.1%}"]
        table.add_row(*row)
    return table
