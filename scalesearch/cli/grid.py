"""`scalesearch grid`: the phi = 1 search for alpha, beta, gamma, resumable and shareable."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.live import Live
from rich.table import Table

from scalesearch.costs.guard import set_memory_budget
from scalesearch.costs.kinds import cost_help
from scalesearch.cli.app import (BaselineOption, FormatOption, OutputFormat, command, command_line,
                                 print_json, print_table, stderr)
from scalesearch.cli.options import (MaxMemoryOption, BatchSizeOption, DataDirOption, DataOption, DeviceOption, EpochsOption,
                                     LatencyDeviceOption, LrOption, ProxyOption, TestImagesOption, TrainImagesOption, ValImagesOption,
                                     shared_parts)
from scalesearch.grid import GridEvents, GridPlan, GridRequest, run_grid
from scalesearch.report.registry import rebuild
from scalesearch.search.worker import Event

Opt = typer.Option


@command("grid", "scalesearch grid --baseline efficientnet-b0 --out runs/b0-grid")
def grid(
    baseline: BaselineOption,
    out: Annotated[Optional[Path], Opt(help="Run directory (results, report, default journal storage).")] = None,
    storage: Annotated[Optional[str], Opt(help="Optuna storage: sqlite:///F, postgresql://..., journal:PATH (default: DIR/study.journal).")] = None,
    study: Annotated[Optional[str], Opt(help="Study name (default: grid-BASELINE).")] = None,
    grid_shape: Annotated[Optional[str], Opt("--grid", help="2d: beta, gamma grid from 1 with alpha = target / (beta^2 gamma^2); 3d: the paper-style grid. Each point trains its family's phi = 1 member, landed on target x the baseline's cost along (alpha, beta, gamma)^t.")] = None,
    step: Annotated[Optional[float], Opt(help="Grid step (space default 0.1).")] = None,
    low: Annotated[Optional[float], Opt(help="Lowest coefficient: >= 1 scaling up (default 1); below 1 scaling down (default 0.5, the 2d grid's floor).")] = None,
    high: Annotated[Optional[float], Opt(help="Highest coefficient (default 2 scaling up; 1 scaling down, at most 1).")] = None,
    target: Annotated[Optional[float], Opt(help="Cost multiple at phi = 1 (alpha * beta^2 * gamma^2): above 1 scales up; below 1 (e.g. 0.5) scales down, coefficients <= 1.")] = None,
    tolerance: Annotated[Optional[float], Opt(help="Allowed |ratio - target|, nominal and measured.")] = None,
    cost: Annotated[str, Opt(help=f"The cost the phi = 1 network lands on at target x the baseline's. {cost_help()}.")] = "flops",
    objective: Annotated[str, Opt(help="accuracy (one winner at --target), or pareto: accuracy vs --cost over --targets, as two objectives.")] = "accuracy",
    targets: Annotated[Optional[str], Opt(help="With --objective pareto: the cost multiples to search (default 1.5,2,3).")] = None,
    latency_threads: Annotated[int, Opt(help="Threads for latency timing (1: the paper's convention).")] = 1,
    latency_batch: Annotated[int, Opt(help="Batch size for latency timing.")] = 1,
    latency_device: LatencyDeviceOption = None,
    sampler: Annotated[str, Opt(help="grid (every feasible point), or tpe, gp (needs scipy) or random with --trials.")] = "grid",
    trials: Annotated[Optional[int], Opt(help="Cap on candidates trained (the baseline is extra).")] = None,
    prune: Annotated[str, Opt(help="none, halving or hyperband (after --prune-warmup epochs).")] = "none",
    prune_warmup: Annotated[int, Opt(help="Epochs before a trial may be pruned.")] = 1,
    data: DataOption = "fashion-mnist",
    data_dir: DataDirOption = None,
    epochs: EpochsOption = None,
    train_images: TrainImagesOption = None,
    val_images: ValImagesOption = 2000,
    test_images: TestImagesOption = None,
    resolution: Annotated[Optional[int], Opt(help="Proxy base resolution in px, scaled by gamma.")] = None,
    batch_size: BatchSizeOption = None,
    lr: LrOption = None,
    proxy: ProxyOption = None,
    seed: Annotated[int, Opt(help="Base seed: seed s of every point is seed + s (its split, order, crops, init).")] = 0,
    seeds: Annotated[Optional[int], Opt(help="Train every feasible point this many times (no racing).")] = None,
    max_seeds: Annotated[int, Opt(help="Racing: seeds per contender at most.")] = 3,
    max_trainings: Annotated[Optional[int], Opt(help="Racing: trainings in all, the baseline's included.")] = None,
    confidence: Annotated[float, Opt(help="Confidence of the separation test and of every interval.")] = 0.9,
    delta: Annotated[Optional[float], Opt(help="An indifference zone, in accuracy (0.01 = one point): racing stops once the leader is within DELTA of the best at --confidence, and the outcome says so (multiple comparisons with the best).")] = None,
    tie_break: Annotated[str, Opt(help="When several points tie: which contender to recommend — latency (the fastest here, timed at batch 1), params, activations, flops, fit (nearest the smooth fit's maximum) or none.")] = "latency",
    device: DeviceOption = "auto",
    max_memory: MaxMemoryOption = None,
    workers: Annotated[Optional[int], Opt(help="Worker processes on this host sharing the study (default: measured — one process with every core, or one single-thread process per core, whichever trains faster here).")] = None,
    threads: Annotated[Optional[int], Opt(help="Threads per worker (default: cores / workers).")] = None,
    worker_only: Annotated[bool, Opt("--worker-only", hidden=True, help="Train only; no results or report.")] = False,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Search the compound coefficients at phi = 1 by proxy training, as an Optuna study.

    Running the same command again resumes: finished candidates are never re-trained, and a
    trial left running by a dead process is re-run. Point several processes or hosts at one
    --storage and --study to share the work.
    """
    set_memory_budget(max_memory)
    request = GridRequest(
        baseline=baseline, out=out, storage=storage, study=study, grid_shape=grid_shape, step=step,
        low=low, high=high, target=target, tolerance=tolerance, cost=cost, objective=objective, targets=targets,
        sampler=sampler, trials=trials, prune=prune, prune_warmup=prune_warmup, resolution=resolution,
        seeds=seeds, max_seeds=max_seeds, max_trainings=max_trainings, confidence=confidence, delta=delta, tie_break=tie_break,
        workers=workers, worker_only=worker_only, command=command_line(), **shared_parts(GridRequest, locals()))
    display = LogDisplay() if worker_only or not stderr.is_terminal else LiveDisplay(confidence)
    try:
        result = run_grid(request, display)
    finally:
        display.close()
    if result is None:  # a worker of a shared study: the coordinating run reports
        return
    rebuild(result.run_dir)
    if result.interrupted:
        stderr.print(f"interrupted: finished trials are saved in {result.run_dir}; run the same command to resume")
        raise typer.Exit(130)
    summary = result.summary
    if result.prepared_only:
        stderr.print(f"study {summary['study']!r} is set up in {summary['storage']}; start workers on any host with: "
                     f"scalesearch worker --storage {summary['storage']} --study {summary['study']}  "
                     + ("(a *** password is left out: each worker's driver reads PGPASSWORD or ~/.pgpass) "
                        if ":***@" in str(summary["storage"]) else "")
                     + "(rerun this command for the results so far)", markup=False)
    if format is OutputFormat.json:
        print_json(summary)
        return
    print_table(candidates_table(result.tables.points, {}, summary["confidence"]))
    print(summary.get("outcome", "No candidate has finished yet."))
    if "alpha" in summary:
        print(f"{'decided' if summary['decided'] else 'not decided'}: alpha={summary['alpha']:g} "
              f"beta={summary['beta']:g} gamma={summary['gamma']:g} val_accuracy={summary['val_accuracy']:.4f} "
              f"(seeds: {sum(summary['seeds'].values())} trainings over {len(summary['seeds'])} points)"
              f"{_recommended(summary)}  ->  {result.run_dir / 'best.json'}, {result.run_dir / 'report.md'}")


def _recommended(summary: dict[str, Any]) -> str:
    pick = summary.get("recommended")
    if not pick or summary.get("decided"):
        return ""
    return f"; recommended ({pick['tie_break']}): alpha={pick['alpha']:g} beta={pick['beta']:g} gamma={pick['gamma']:g}"


class LogDisplay(GridEvents):
    """A log file or a pipe: the plan, then one line per finished trial."""

    def measuring(self):
        return stderr.status("measuring candidates (FLOPs at the deployment shape)...")

    def planned(self, plan: GridPlan) -> None:
        stderr.print(f"{plan.space.name}: {plan.feasible} of {len(plan.candidates) - 1} candidates feasible "
                     f"(+ baseline); {len(plan.pending)} trainings now, about {_minutes(plan.estimate_seconds)} "
                     f"with {plan.processes}; {plan.mode}. Study {plan.study!r} in {plan.storage}.")

    def trial(self, event: Event, rows) -> None:
        if event.kind == "end":
            stderr.print(f"{time.strftime('%H:%M:%S')} [pid {event.pid or os.getpid()}] trial {event.trial} "
                         f"point {event.point} seed {event.seed}: {event.state} "
                         f"{'' if math.isnan(event.value) else f'val {event.value:.4f}'}", markup=False)

    def note(self, text: str) -> None:
        stderr.print(f"note: {text}", markup=False)

    def close(self) -> None: ...


class LiveDisplay(LogDisplay):
    """A terminal: the candidate table, redrawn as trials start, learn and end."""

    def __init__(self, confidence: float = 0.9) -> None:
        self.live: Live | None = None
        self.info: dict[int, str] = {}
        self.epochs = 0
        self.confidence = confidence

    def planned(self, plan: GridPlan) -> None:
        super().planned(plan)
        self.epochs = plan.epochs

    def _show(self, rows) -> None:
        table = candidates_table(rows(), self.info, self.confidence)
        if self.live is None:
            self.live = Live(table, console=stderr, refresh_per_second=2, transient=True)
            self.live.start()
        else:
            self.live.update(table)

    def trial(self, event: Event, rows) -> None:
        if event.kind == "start":
            self.info[event.point] = "training"
        elif event.kind == "epoch":
            self.info[event.point] = f"epoch {event.epoch}/{self.epochs}: {event.value:.1%}"
        else:
            self.info.pop(event.point, None)
        self._show(rows)

    def tick(self, rows) -> None:
        self._show(rows)

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def candidates_table(rows: list[dict[str, Any]], live_info: dict[int, str], confidence: float) -> Table:
    table = Table(title=f"phi = 1 points: cost at the deployment shape; val accuracy mean ± {confidence:.0%} "
                        "interval over seeds")
    for name in ("#", "α, β, γ", "cost ×", "seeds", "val acc", "p_best (model)", "state"):
        table.add_column(name, justify="left" if name == "state" else "right", no_wrap=name != "state")
    for row in rows:
        state = live_info.get(row["index"], row["state"])
        if row.get("contender"):
            state += " (contender)"
        half = "" if _missing(row.get("low")) else f" ± {(row['high'] - row['low']) / 2:.1%}"
        table.add_row("base" if row["role"] == "baseline" else str(row["index"]),
                      f"{row['alpha']:g}, {row['beta']:g}, {row['gamma']:g}", f"{row['measured_ratio']:.2f} {row['cost']}",
                      str(row["seeds"] or ""), _pct(row["mean"]) + half,
                      "" if _missing(row.get("p_best_model")) or row["role"] == "baseline" else f"{row['p_best_model']:.2f}",
                      state)
    return table


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _pct(value) -> str:
    return "" if _missing(value) else f"{value:.2%}"
