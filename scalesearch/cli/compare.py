"""`scalesearch compare`: single-dimension vs compound scaling at matched FLOPs (Table 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Group
from rich.table import Table
from rich.text import Text

from scalesearch.costs.guard import set_memory_budget
from scalesearch.costs.kinds import cost_help
from scalesearch.cli.app import BaselineOption, FormatOption, OutputFormat, command, command_line, emit, stderr
from scalesearch.cli.options import (MaxMemoryOption, AlphaOption, BatchSizeOption, BetaOption, DataDirOption, DataOption,
                                     DeviceOption, EpochsOption, LatencyDeviceOption, GammaOption, LrOption, ProxyOption, TestImagesOption,
                                     TrainImagesOption, ValImagesOption, shared_parts)
from scalesearch.cli.progress import UnitProgress, duration
from scalesearch.compare import PAPER_TABLE3_METHODS, CompareEvents, CompareRequest, run_compare
from scalesearch.spec.methods import method_help
from scalesearch.report import compare_paper
from scalesearch.report.compare import failure_lines, gap_to_compound
from scalesearch.report.registry import rebuild


@command("compare", "scalesearch compare --baseline mobilenetv2 --target 2x,4x --seeds 2 --out runs/compare-mbv2")
def compare(
    baseline: BaselineOption,
    out: Annotated[Path, typer.Option(help="Run directory: run.json, units.jsonl, compare.csv/json, report.md/html. Rerun to resume.")],
    target: Annotated[Optional[str], typer.Option(help="FLOP multiples of the baseline to match, e.g. 2x,4x (default 2x; with --preset paper-table3 none: add e.g. 2x for a Figure-3 plot).")] = None,
    methods: Annotated[Optional[str], typer.Option(help=f"Which scalings to compare, comma-separated: {method_help()} (default all; with --preset paper-table3 the ones the paper compares for this network: {','.join(PAPER_TABLE3_METHODS)}, MobileNetV1 without depth).")] = None,
    from_dir: Annotated[Optional[Path], typer.Option("--from", help="Take alpha, beta, gamma from a grid run's best.json.")] = None,
    force_coefficients: Annotated[bool, typer.Option(help="With --from: accept a grid made for another baseline.")] = False,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    gamma: GammaOption = None,
    preset: Annotated[Optional[str], typer.Option(help="paper: B0's 1.2, 1.1, 1.15 (the default); paper-table3: the paper's own Table 3 (d=4, w=2, r=2, compound d=1.4 w=1.2 r=1.3), its numbers beside ours.")] = None,
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    epochs: EpochsOption = None,
    train_images: TrainImagesOption = None,
    val_images: ValImagesOption = 2000,
    test_images: TestImagesOption = None,
    batch_size: BatchSizeOption = None,
    lr: LrOption = None,
    proxy: ProxyOption = None,
    resolution: Annotated[Optional[int], typer.Option(help="Proxy base resolution in px, scaled by each variant's r (default: the baseline's, e.g. 32).")] = None,
    seeds: Annotated[int, typer.Option(help="Trainings per variant (mean ± std over seeds; differences to compound with their interval).")] = 3,
    budget_scale: Annotated[float, typer.Option(help="Train every variant, the baseline included, for F x the proxy epochs (1 = the space's proxy budget).")] = 1.0,
    confidence: Annotated[float, typer.Option(help="Confidence of the intervals and verdicts.")] = 0.9,
    seed: Annotated[int, typer.Option(help="Base seed: data split and the first training; seed k uses seed + k.")] = 0,
    device: DeviceOption = "auto",
    max_memory: MaxMemoryOption = None,
    cost: Annotated[str, typer.Option(help=f"What every method is matched on. {cost_help()}.")] = "flops",
    latency: Annotated[bool, typer.Option(help="Also time every variant (1 thread, batch 1 by default).")] = False,
    latency_threads: Annotated[int, typer.Option(help="Threads for latency timing.")] = 1,
    latency_batch: Annotated[int, typer.Option(help="Batch size for latency timing.")] = 1,
    latency_device: LatencyDeviceOption = None,
    workers: Annotated[Optional[int], typer.Option(help="Processes training units at once (default: measured — one with every core, or one single-thread process per core).")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Threads per process (default: cores / workers).")] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Scale width, depth, resolution, compound and fast to the same FLOPs; train each; compare.

    --preset paper-table3 trains the paper's Table 3 settings and prints its numbers beside ours."""
    set_memory_budget(max_memory)
    request = CompareRequest(
        baseline=baseline, out=out, targets=target, methods=methods,
        from_dir=None if from_dir is None else str(from_dir), force_coefficients=force_coefficients, alpha=alpha, beta=beta, gamma=gamma,
        preset=preset, proxy_resolution=resolution, seeds=seeds, budget_scale=budget_scale, confidence=confidence,
        workers=workers, cost=cost, latency=latency, command=command_line(), **shared_parts(CompareRequest, locals()))
    rows = run_compare(request, ProgressEvents())
    written = [out / "compare.csv", out / "compare.json", *rebuild(out).values()]
    stderr.print(f"compare: wrote {', '.join(str(p) for p in written)}")
    for line in failure_lines(rows, baseline):
        stderr.print(f"warning: {line}")
    emit(format, rows, lambda: with_paper(rows_table(rows, baseline), rows, request))


class ProgressEvents(UnitProgress, CompareEvents):
    """Warnings for variants off their target, then the units' bar (cli/progress.py)."""

    def __init__(self) -> None:
        super().__init__("compare")

    def planned(self, plan, costs, todo, finished, estimates, workers=1) -> None:
        for item, cost in zip(plan, costs):
            if not item.within_tolerance:
                stderr.print(f"warning: {item.key} reaches {cost['cost_ratio']:.2f}x, outside ±5% of "
                             f"{item.label}; rounding leaves no closer setting")
        stderr.print(f"compare: {len(plan)} variants, {len(todo)} units to train "
                     f"({finished} already done), estimated {duration(sum(estimates.values()) / workers)}"
                     + (f" in {workers} worker processes" if workers > 1 else ""))
        self.begin(len(todo), estimates, workers)


def rows_table(rows: list[dict], baseline: str) -> Table:
    table = Table(title=f"{baseline} at matched FLOPs (cost: deployment shape; accuracy: proxy shape)")
    for column in ("target", "method", "d", "w", "r", "GFLOPs", "ratio", "test acc", "compound − it"):
        table.add_column(column, justify="left" if column in ("target", "method") else "right", no_wrap=True)
    for row in rows:
        table.add_row(row["target"], row["method"], f"{row['depth']:.3g}", f"{row['width']:.3g}",
                      f"{row['resolution_mult']:.3g}", f"{row['flops'] / 1e9:.3f}", f"{row['flops_ratio']:.2f}x",
                      accuracy(row, "test"), gap_to_compound(row))
    return table


# The report's column names, shortened to fit a terminal.
SHORT = {"FLOP ratio: paper": "paper ×", "FLOP ratio: ours": "ours ×", "top-1: paper": "paper top-1",
         "gain: paper": "paper gain", "test acc: ours": "ours test acc", "gain: ours": "ours gain",
         "compound − it: paper": "paper c − it", "compound − it: ours": "ours c − it"}


def with_paper(table: Table, rows: list[dict], request: CompareRequest) -> Table | Group:
    """Under --preset paper-table3: the paper's Table 3 beside ours, and a sentence on agreement."""
    at = compare_paper.paper_rows(rows)
    if not at:
        return table
    frame = compare_paper.paper_frame(at)
    paper = Table(title="beside the paper (Tan & Le 2019, Table 3; gains in points, ours with their "
                        f"{request.confidence:.0%} simultaneous intervals)")
    for column in frame.columns:
        paper.add_column(SHORT.get(column, column), justify="left" if column == "method" else "right", no_wrap=True)
    for values in frame.itertuples(index=False):
        paper.add_row(*map(str, values))
    sentence = compare_paper.agreement(rows, request.baseline, request.confidence)
    epochs = rows[0].get("epochs")
    note = compare_paper.flops_note(rows)
    return Group(table, paper, Text(f"{sentence} Trained for {epochs} epochs (budget scale "
                                    f"{request.budget_scale:g}).{' ' + note if note else ''}"))


def accuracy(row: dict, split: str) -> str:
    mean, std = row.get(f"{split}_accuracy"), row.get(f"{split}_std")
    if mean is None:
        return "failed to train" if row.get("failed") else "-"
    return f"{mean:.2%}" + (f" ± {std:.2%}" if std is not None else "")
