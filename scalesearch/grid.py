"""grid: the phi = 1 search for alpha, beta, gamma, resumable and shareable.

`run_grid(request, events)` resolves the baseline, loads the data, opens (or joins) the
Optuna study in its storage, trains every pending candidate — in this process or in
`request.workers` worker processes — and saves trials.csv / best.json in the run
directory before anything is printed.  Interrupted (Ctrl-C, SIGTERM), it still saves
what finished and says so in the result; the same request again resumes.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ContextManager

import optuna

from scalesearch.errors import UserError
from scalesearch.costs.variant import Variant
from scalesearch.files import read_json, write_json
from scalesearch.machine import describe
from scalesearch.processes import signals_as_interrupt
from scalesearch.requests import BudgetChoice, DataChoice, LatencyChoice, Placement, flat, proxy_budget, uncalibrated
from scalesearch.runs.grid_tables import GridTables, add_recommendation, collect, name_baseline, save_grid_tables
from scalesearch.runs.run_dir import RunInfo, claim_run_dir, default_run_dir, finish_run
from scalesearch.search.candidates import Candidate, GridSpec, build_candidates
from scalesearch.search.pool import ProcessPlan, plan_processes, run_pool
from scalesearch.search.storage import TornRecordWarning, open_storage, redact
from scalesearch.search.study import SearchConfig, open_study
from scalesearch.stats.tie_break import check_tie_break
from scalesearch.search.worker import Event, run_worker, unit_status, wanted_units
from scalesearch.spec.spaces import SearchSpace, load_space
from scalesearch.training.data import load_data
from scalesearch.device import available_cores, check_threads, resolve_device
from scalesearch.training.timing import estimate_seconds

Rows = Callable[[], list[dict[str, Any]]]


@dataclass(frozen=True)
class GridRequest:
    """What `scalesearch grid` was asked; None falls back to the space's defaults."""

    baseline: str
    out: Path | None = None  # default runs/grid-BASELINE
    storage: str | None = None  # default: a journal file in `out`
    study: str | None = None  # default grid-BASELINE
    grid_shape: str | None = None
    step: float | None = None
    low: float | None = None
    high: float | None = None
    target: float | None = None
    tolerance: float | None = None
    cost: str = "flops"  # what the phi = 1 network is landed on
    objective: str = "accuracy"  # or "pareto": accuracy vs cost over `targets`
    targets: str | None = None  # "1.5,2,3": cost multiples of a Pareto search (default 1.5,2,3)
    timing: LatencyChoice = field(default_factory=LatencyChoice)
    sampler: str = "grid"
    trials: int | None = None
    prune: str = "none"
    prune_warmup: int = 1
    dataset: DataChoice = field(default_factory=DataChoice)
    budget: BudgetChoice = field(default_factory=BudgetChoice)
    resolution: int | None = None  # proxy base resolution
    seeds: int | None = None  # every feasible point K times; None = racing
    max_seeds: int = 3
    max_trainings: int | None = None
    confidence: float = 0.9
    delta: float | None = None  # an indifference zone for racing's stop and the outcome (stats/ranking.py)
    tie_break: str = "latency"  # which contender a tie recommends (stats/tie_break.py)
    placement: Placement = field(default_factory=Placement)  # its threads: per worker
    workers: int | None = None  # None: measured (one process with every core, or one per core)
    worker_only: bool = False  # train only: no results, no report (a worker of a shared study)
    command: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The flat record run.json and the study keep: the storage's password redacted."""
        return {**flat(self), "storage": redact(self.storage)}


@dataclass
class GridPlan:
    """What the search is about to do: told to the events before training starts."""

    space: SearchSpace
    candidates: list[Candidate]
    pending: list[tuple[int, int]]  # the units wanted now: (point, seed)
    estimate_seconds: float  # their wall time with the chosen workers
    workers: int
    processes: str  # why that many workers and threads
    study: str
    storage: str
    epochs: int
    mode: str  # "racing" or "K seed(s) per point"

    @property
    def feasible(self) -> int:
        return sum(c.feasible for c in self.candidates) - 1  # the baseline is not a candidate


@dataclass
class GridResult:
    tables: GridTables  # units, points and the summary (what best.json holds)
    run_dir: Path
    interrupted: bool = False
    prepared_only: bool = False  # --workers 0: the study is set up, workers train it

    @property
    def summary(self) -> dict[str, Any]:
        return self.tables.summary


class GridEvents:
    """What a front end hears while a grid runs (the CLI draws a table or log lines)."""

    def measuring(self) -> ContextManager:
        """Around measuring the candidates (seconds to a minute for big grids)."""
        return contextlib.nullcontext()

    def planned(self, plan: GridPlan) -> None: ...

    def trial(self, event: Event, rows: Rows) -> None:
        """A trial started, finished an epoch or ended (here or in a worker process)."""

    def tick(self, rows: Rows) -> None:
        """Every few seconds while worker processes train."""

    def note(self, text: str) -> None:
        """Something worth a line that is not an error (a torn record set aside)."""


@dataclass
class _Setup:
    space: SearchSpace
    config: SearchConfig
    run_dir: Path
    study_name: str
    storage_name: str
    device: str
    tie_break: str = "latency"

    @property
    def shown_storage(self) -> str:
        """The storage as records and messages name it: its password redacted."""
        return redact(self.storage_name)


def prepare(request: GridRequest) -> _Setup:
    """Everything checkable before a study is opened: one-line errors in a second."""
    space = load_space(request.baseline)
    timing, dataset = request.timing, request.dataset
    grid = GridSpec.from_space(space, shape=request.grid_shape, step=request.step, low=request.low,
                               high=request.high, target=request.target, tolerance=request.tolerance,
                               cost=request.cost, latency_threads=timing.latency_threads,
                               latency_batch=timing.latency_batch,
                               latency_device=str(resolve_device(timing.latency_device, "latency_device")) if timing.latency_device else "",
                               targets=_targets(request) if request.objective == "pareto" else ())
    budget = proxy_budget(space.proxy, dataset, request.budget)
    config = SearchConfig(baseline=space.name, grid=grid, budget=budget, data=dataset.data,
                          data_dir=request.placement.data_dir,
                          base_resolution=request.resolution or space.proxy_resolution,
                          test_images=dataset.test_images, sampler=request.sampler, trials=request.trials,
                          prune=request.prune, prune_warmup=request.prune_warmup, seeds=request.seeds,
                          max_seeds=request.max_seeds, max_trainings=request.max_trainings,
                          confidence=request.confidence, objective=request.objective, delta=request.delta)
    cores = os.cpu_count() or 1
    if request.workers is not None and not 0 <= request.workers <= cores:
        raise UserError(f"{{workers}} must be between 0 (set the study up for `scalesearch worker`) and the "
                        f"{cores} cores here, got {request.workers}")
    check_threads(request.placement.threads)
    check_tie_break(request.tie_break)
    run_dir = Path(request.out or default_run_dir("grid", space.name))
    storage_name = request.storage or f"journal:{run_dir / 'study.journal'}"
    return _Setup(space, config, run_dir, request.study or f"grid-{space.name}", storage_name,
                  str(resolve_device(request.placement.device)), request.tie_break)


def _targets(request: GridRequest) -> tuple[float, ...]:
    text = request.targets or "1.5,2,3"
    try:
        values = [float(t.strip().rstrip("x")) for t in text.split(",")]
    except ValueError:
        raise UserError(f"{{targets}}: cannot read {text!r}; give cost multiples like 1.5,2,3") from None
    return tuple(dict.fromkeys(values))  # "2,2x,2.0" is one target: trained once, not three times


def run_grid(request: GridRequest, events: GridEvents | None = None) -> GridResult | None:
    """Search, save trials.csv / best.json / run.json, return them (None for worker_only)."""
    events = events or GridEvents()
    s = prepare(request)
    data = load_data(s.config.data, s.config.data_dir, train_images=s.config.budget.train_images,
                     val_images=s.config.budget.val_images, test_images=s.config.test_images,
                     seed=s.config.budget.seed)
    Variant(s.space).at_proxy(s.config.base_resolution, data.in_channels, data.num_classes).spec  # validates
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TornRecordWarning)
        storage = open_storage(request.storage, s.run_dir)
    for warning in caught:
        events.note(str(warning.message))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A worker claims no run directory: the coordinating run owns it, maybe on another host.
    info = None if request.worker_only else claim_run_dir(s.run_dir, RunInfo(
        kind="grid", baseline=s.space.name, space=s.space.identity, request=request.as_dict(),
        results="best.json", command=request.command,
        identity={"study": s.study_name, "storage": s.shown_storage, **s.config.fingerprint(s.space)}))
    with events.measuring():
        study, candidates = open_study(storage, s.study_name, s.config, s.space,
                                       lambda: build_candidates(s.space, s.config.grid, s.device))

    def rows() -> list[dict[str, Any]]:
        return collect(study, candidates, s.config, s.study_name, s.shown_storage).points

    if request.worker_only:
        run_worker(study, candidates, s.space, s.config, data, device=s.device, threads=request.placement.threads,
                   on_event=lambda event: events.trial(event, rows))
        return None
    describe_study(study, request, s.space)
    if line := uncalibrated(s.space.proxy, request.budget, request.baseline):  # once every input has passed
        events.note(line)
    if request.workers == 0:  # set up for workers that join by URL: save what is there, train nothing
        return _save_results(study, candidates, s, info, prepared_only=True)
    pending = wanted_units(candidates, unit_status(study), s.config)
    probe = Variant(s.space).at_proxy(s.config.base_resolution, data.in_channels, data.num_classes)
    cpu = s.device == "cpu"
    # In one process with every core: only the measured plan asks (a short run skips measuring).
    alone = (_estimate(candidates, pending, s, data, available_cores())
             if pending and cpu and request.workers is None and request.placement.threads is None else None)
    processes = (plan_processes(request.workers, request.placement.threads, s.device, probe.build(0),
                                (data.in_channels, probe.resolution, probe.resolution), data.num_classes,
                                s.config.budget.batch_size, seconds=alone)
                 if pending else ProcessPlan(request.workers or 1, request.placement.threads or 1, "nothing to train"))
    estimate = (alone if alone is not None and processes.threads == available_cores()
                else _estimate(candidates, pending, s, data, processes.threads if cpu else None))
    events.planned(GridPlan(s.space, candidates, pending, estimate / processes.workers, processes.workers,
                            processes.why, s.study_name, s.shown_storage, s.config.budget.epochs,
                            "racing" if s.config.racing else f"{s.config.seeds or 1} seed(s) per point"))
    interrupted = False
    try:
        with signals_as_interrupt():
            if processes.workers == 1:
                run_worker(study, candidates, s.space, s.config, data, device=s.device,
                           threads=processes.threads, on_event=lambda event: events.trial(event, rows))
            else:
                def relay(name: str, args: tuple) -> None:
                    if name == "trial":
                        events.trial(args[0], rows)

                run_pool(run_grid, worker_request(request, s, processes.threads), processes.workers,
                         on_event=relay, on_tick=lambda: events.tick(rows))
    except KeyboardInterrupt:
        interrupted = True
    return _save_results(study, candidates, s, info, interrupted=interrupted)


def _save_results(study: optuna.Study, candidates: list[Candidate], s: _Setup, info: RunInfo,
                  interrupted: bool = False, prepared_only: bool = False) -> GridResult:
    """Collect the study's tables, save them (the run is finished once every unit is in)."""
    tables = collect(study, candidates, s.config, s.study_name, s.shown_storage)
    name_baseline(tables, str(info.request.get("baseline") or ""))
    add_recommendation(tables, s.tie_break, _cost_ratio(s), _side_by_side(candidates, s))
    save_grid_tables(s.run_dir, tables)
    if tables.summary["complete"]:
        finish_run(s.run_dir, info)
    return GridResult(tables, s.run_dir, interrupted, prepared_only)


def _cost_ratio(s: _Setup) -> Callable[[dict[str, Any]], float]:
    """A contender's tie-break cost over the baseline's, from its row (params, activations,
    flops: measured for every point).  Latency is timed side by side (`_side_by_side`)."""
    return lambda row: row[f"{s.tie_break}_ratio"]


def _side_by_side(candidates: list[Candidate], s: _Setup) -> Callable[[list[dict[str, Any]]], dict]:
    """The latency tie-break's timings: the baseline and the contenders in interleaved rounds
    (costs/latency.side_by_side), each in its own faster memory format, at the grid's
    latency settings; kept in tie_latency.json so a finished grid read again is not re-timed."""
    import torch

    from scalesearch.costs.latency import FORMATS, side_by_side

    by_index = {c.index: c for c in candidates}
    grid = s.config.grid
    device = grid.latency_device or s.device

    def timings(contenders: list[dict[str, Any]]) -> dict:
        variants = {"baseline": Variant(s.space), **{p["index"]: by_index[p["index"]].variant(s.space)
                                                     for p in contenders}}
        key = {"contenders": sorted(p["index"] for p in contenders), "threads": grid.latency_threads,
               "batch": grid.latency_batch, "device": device, "machine": describe(device)}
        path = s.run_dir / "tie_latency.json"
        kept = read_json(path) if path.exists() else None
        if isinstance(kept, dict) and kept.get("key") == key:
            return {("baseline" if k == "baseline" else int(k)): v for k, v in kept["seconds"].items()}
        models = []
        for variant in variants.values():
            fmt = FORMATS[variant.latency(device, grid.latency_threads, grid.latency_batch).memory_format]
            example = torch.zeros(grid.latency_batch, variant.in_channels, variant.resolution, variant.resolution)
            models.append((variant.build(0).to(memory_format=fmt), example.contiguous(memory_format=fmt)))
        seconds = dict(zip(variants, side_by_side(models, device, grid.latency_threads)))
        write_json(path, {"key": key, "seconds": {str(k): v for k, v in seconds.items()}})
        return seconds

    return timings


def describe_study(study: optuna.Study, request: GridRequest, space: SearchSpace) -> None:
    """Record in the study what a worker on any host needs to join it with no other options
    (join.py): the request, and the space's YAML when the baseline is a file of this host."""
    stored = request.as_dict()
    if study.user_attrs.get("request") != stored:
        study.set_user_attr("request", stored)
    if space.network is not None and not space.source.startswith("builtin:"):  # a factory has no network
        text = Path(space.source).read_text()
        if study.user_attrs.get("space_text") != text:
            study.set_user_attr("space_text", text)


def worker_request(request: GridRequest, s: _Setup, threads: int) -> GridRequest:
    """The request each worker process runs: the same study, train only, its thread share."""
    return replace(request, workers=1, placement=replace(request.placement, threads=threads), worker_only=True,
                   storage=s.storage_name, study=s.study_name, out=s.run_dir)


def _estimate(candidates: list[Candidate], pending: list[tuple[int, int]], s: _Setup, data, threads) -> float:
    by_index = {c.index: c for c in candidates}
    networks = [by_index[point].variant(s.space).at_proxy(s.config.base_resolution, data.in_channels,
                                                         data.num_classes) for point, _ in pending]
    return sum(estimate_seconds(networks, s.config.budget, len(data.train_y), len(data.val_y),
                                len(data.test_y), threads))
