"""`scalesearch grid`: the phi = 1 search for alpha, beta, gamma, resumable and shareable."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import optuna
import typer
from rich.live import Live
from rich.table import Table

from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.cli.app import BaselineOption, FormatOption, OutputFormat, command, print_json, print_table, stderr
from scalesearch.cli.options import (BatchSizeOption, DataDirOption, DataOption, DeviceOption, EpochsOption,
                                     LrOption, TestImagesOption, TrainImagesOption, ValImagesOption)
from scalesearch.training.data import load_data
from scalesearch.errors import UserError
from scalesearch.runs.grid_tables import collect_rows, save_grid_run, summarize
from scalesearch.measure.profile import resolve_device
from scalesearch.report.registry import rebuild
from scalesearch.search.study import (Event, SearchConfig, estimate_seconds, open_study, pending_points,
                                point_status, run_worker, worker_threads)
from scalesearch.spec.spaces import load_space
from scalesearch.search.storage import open_storage
from scalesearch.training.loop import ProxyBudget
from scalesearch.measure.variant import Variant

Opt = typer.Option


@command("grid", "scalesearch grid --baseline efficientnet-b0 --out runs/b0-grid")
def grid(
    baseline: BaselineOption,
    out: Annotated[Optional[Path], Opt(help="Run directory (results, report, default journal storage).")] = None,
    storage: Annotated[Optional[str], Opt(help="Optuna storage: sqlite:///F, postgresql://..., journal:PATH (default: DIR/study.journal).")] = None,
    study: Annotated[Optional[str], Opt(help="Study name (default: grid-BASELINE).")] = None,
    grid_shape: Annotated[Optional[str], Opt("--grid", help="2d: beta, gamma grid with alpha solved on measured FLOPs; 3d: the paper-style grid.")] = None,
    step: Annotated[Optional[float], Opt(help="Grid step (space default 0.1).")] = None,
    low: Annotated[Optional[float], Opt(help="Lowest coefficient (>= 1).")] = None,
    high: Annotated[Optional[float], Opt(help="Highest coefficient.")] = None,
    target: Annotated[Optional[float], Opt(help="FLOP multiple at phi = 1 (alpha * beta^2 * gamma^2).")] = None,
    tolerance: Annotated[Optional[float], Opt(help="Allowed |ratio - target|, nominal and measured.")] = None,
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
    seed: Annotated[int, Opt(help="Seed for data split, order and init (same for every trial).")] = 0,
    device: DeviceOption = "auto",
    workers: Annotated[int, Opt(help="Worker processes on this host sharing the study (cores / N threads each).")] = 1,
    threads: Annotated[Optional[int], Opt(help="Threads per worker (default: cores / workers).")] = None,
    worker_only: Annotated[bool, Opt("--worker-only", hidden=True, help="Train only; no results or report.")] = False,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Search the compound coefficients at phi = 1 by proxy training, as an Optuna study.

    Running the same command again resumes: finished candidates are never re-trained, and a
    trial left running by a dead process is re-run. Point several processes or hosts at one
    --storage and --study to share the work.
    """
    space = load_space(baseline)
    grid_spec = GridSpec.from_space(space, shape=grid_shape, step=step, low=low, high=high,
                                    target=target, tolerance=tolerance)
    budget = ProxyBudget.for_space(space.proxy, epochs=epochs, train_images=train_images,
                                   batch_size=batch_size, lr=lr, seed=seed, val_images=val_images)
    base_resolution = resolution or space.proxy_resolution
    config = SearchConfig(baseline=space.name, grid=grid_spec, budget=budget, data=data,
                          data_dir=data_dir, base_resolution=base_resolution,
                          test_images=test_images, sampler=sampler, trials=trials, prune=prune, prune_warmup=prune_warmup)
    if workers < 1 or workers > os.cpu_count():
        raise UserError(f"--workers must be between 1 and the {os.cpu_count()} cores here, got {workers}")
    dev = str(resolve_device(device))
    run_dir = Path(out or f"runs/grid-{space.name}")
    study_name = study or f"grid-{space.name}"
    images = load_data(data, data_dir, train_images=budget.train_images, val_images=budget.val_images,
                       test_images=test_images, seed=budget.seed)
    Variant(space).at_proxy(base_resolution, images.in_channels, images.num_classes).spec  # validates
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    store = open_storage(storage, run_dir)
    with stderr.status("measuring candidates (FLOPs at the deployment shape)..."):
        the_study, candidates = open_study(store, study_name, config, space,
                                           lambda: build_candidates(space, grid_spec))
    storage_name = storage or f"journal:{run_dir / 'study.journal'}"

    if worker_only:
        run_worker(the_study, candidates, space, config, images, device=dev, threads=threads,
                   on_event=_log_event)
        return

    pending = pending_points(candidates, point_status(the_study))
    estimate = estimate_seconds(candidates, space, config, images, pending,
                                threads=(threads or worker_threads(workers)) if dev == "cpu" else None)
    feasible = sum(c.feasible for c in candidates) - 1
    stderr.print(f"{space.name}: {feasible} of {len(candidates) - 1} candidates feasible "
                 f"(+ baseline); {len(pending)} to train, about {_minutes(estimate / workers)} "
                 f"with {workers} worker(s). Study {study_name!r} in {storage_name}.")
    interrupted = False
    try:
        if workers == 1:
            _run_here(the_study, candidates, space, config, images, dev, threads)
        else:
            _run_workers(the_study, candidates, workers, storage_name, study_name,
                         threads or worker_threads(workers))
    except KeyboardInterrupt:
        interrupted = True
    rows = collect_rows(the_study, candidates)
    summary = summarize(rows, config, study_name, storage_name)
    save_grid_run(run_dir, rows, summary, config)
    rebuild(run_dir)
    if interrupted:
        stderr.print(f"interrupted: finished trials are saved in {run_dir}; run the same command to resume")
        raise typer.Exit(130)
    if format is OutputFormat.json:
        print_json(summary)
    else:
        print_table(_table(rows, {}))
        if "alpha" in summary:
            print(f"best: alpha={summary['alpha']:g} beta={summary['beta']:g} gamma={summary['gamma']:g} "
                  f"val_accuracy={summary['val_accuracy']:.4f} measured FLOP ratio={summary['flops_ratio']:.3f}"
                  f"  ->  {run_dir / 'best.json'}, {run_dir / 'report.md'}")


def _run_here(study, candidates, space, config, images, dev, threads) -> None:
    if not stderr.is_terminal:  # a log file or a pipe: one line per finished trial, not a live table
        run_worker(study, candidates, space, config, images, device=dev, threads=threads,
                   on_event=_log_event)
        return
    live_info: dict[int, str] = {}
    with Live(_table(collect_rows(study, candidates), live_info), console=stderr,
              refresh_per_second=2, transient=True) as live:
        def on_event(event: Event) -> None:
            if event.kind == "start":
                live_info[event.point] = "training"
            elif event.kind == "epoch":
                live_info[event.point] = f"epoch {event.epoch}/{config.budget.epochs}: {event.value:.1%}"
            else:
                live_info.pop(event.point, None)
            live.update(_table(collect_rows(study, candidates), live_info))

        run_worker(study, candidates, space, config, images, device=dev, threads=threads,
                   on_event=on_event)


def _run_workers(study, candidates, workers: int, storage_name: str, study_name: str,
                 threads: int) -> None:
    """N copies of this command with --worker-only, each with cores / N threads."""
    argv = [a for a in sys.argv[1:]]
    for option in ("--workers", "--threads", "--storage", "--study"):
        argv = _drop_option(argv, option)
    argv += ["--worker-only", "--storage", storage_name, "--study", study_name, "--threads", str(threads)]
    procs = [subprocess.Popen([sys.executable, "-m", "scalesearch", *argv], stdout=subprocess.DEVNULL)
             for _ in range(workers)]
    try:
        with Live(_table(collect_rows(study, candidates), {}), console=stderr, refresh_per_second=1,
                  transient=True) as live:
            while any(p.poll() is None for p in procs):
                time.sleep(2)
                live.update(_table(collect_rows(study, candidates), {}))
    except KeyboardInterrupt:
        for p in procs:
            p.terminate()  # SIGTERM: each worker marks its running trial failed
        for p in procs:
            p.wait()
        raise


def _drop_option(argv: list[str], name: str) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == name:
            skip = True
            continue
        if arg.startswith(name + "="):
            continue
        out.append(arg)
    return out


def _log_event(event: Event) -> None:
    if event.kind == "end":
        stderr.print(f"{time.strftime('%H:%M:%S')} [pid {os.getpid()}] trial {event.trial} point {event.point}: "
                     f"{event.state} {'' if math.isnan(event.value) else f'val {event.value:.4f}'}", markup=False)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def _table(rows: list[dict], live_info: dict[int, str]) -> Table:
    table = Table(title="phi = 1 candidates (FLOP ratios at the deployment shape)")
    for name in ("#", "alpha", "beta", "gamma", "nominal", "measured", "val acc", "state"):
        table.add_column(name, justify="left" if name == "state" else "right")
    for row in rows:
        acc = row["val_accuracy"]
        state = live_info.get(row["index"], row["state"])
        table.add_row("base" if row["role"] == "baseline" else str(row["index"]), f"{row['alpha']:g}", f"{row['beta']:g}", f"{row['gamma']:g}",
                      f"{row['nominal_ratio']:.3f}", f"{row['measured_ratio']:.3f}",
                      "" if acc is None or (isinstance(acc, float) and math.isnan(acc)) else f"{acc:.2%}",
                      state)
    return table
