"""The phi = 1 search as an Optuna study that many workers can share.

Each trial trains one candidate (candidates.py) with the proxy budget and reports its
validation accuracy per epoch.  The study's user attributes hold the configuration
fingerprint and the candidate list, so every worker (a process here, or a host on
PostgreSQL) sees the same points and a study made for another baseline, space or budget
is refused rather than mixed.

Every worker runs `run_worker`: reap trials whose worker died, pick a point nobody has
finished or is running, claim it (owner + lease), train, tell.  Points are chosen by
enqueueing (grid) or by the sampler over the feasible candidates (tpe, random).  A worker
that finds it got a point another live worker already holds gives it up before training,
so each point is trained exactly once; one killed mid-trial is re-run by whoever comes next.
"""

from __future__ import annotations

import importlib.util
import math
import signal
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from scalesearch import __version__
from scalesearch.search.candidates import Candidate, GridSpec
from scalesearch.training.data import ImageData
from scalesearch.errors import UserError
from scalesearch.spec.spaces import SearchSpace
from scalesearch.search.storage import LeaseKeeper, owner_attrs, reap_stale_trials
from scalesearch.training.loop import ProxyBudget, TrainResult, seconds_per_image, train_model
from scalesearch.measure.variant import Variant

SAMPLERS = ("grid", "tpe", "gp", "random")
PRUNERS = ("none", "halving", "hyperband")
POLL_SECONDS = 2.0
MAX_RETRIES = 3  # a point whose trial failed this often (not by a dead worker) is given up


@dataclass(frozen=True)
class SearchConfig:
    """Everything that decides what a search trains; its fingerprint must match to resume."""

    baseline: str
    grid: GridSpec
    budget: ProxyBudget
    data: str = "fashion-mnist"
    data_dir: str | None = None
    base_resolution: int = 32
    test_images: int | None = None  # None = the source's whole test split
    sampler: str = "grid"
    trials: int | None = None
    prune: str = "none"
    prune_warmup: int = 1

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise UserError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.prune not in PRUNERS:
            raise UserError(f"--prune must be one of {', '.join(PRUNERS)}, got {self.prune!r}")
        if self.trials is not None and self.trials < 1:
            raise UserError(f"--trials must be >= 1, got {self.trials}")
        if self.base_resolution < 1:
            raise UserError(f"--resolution must be a positive number of pixels, got {self.base_resolution}")

    def fingerprint(self, space: SearchSpace) -> dict[str, Any]:
        """What a resumed or joined study must agree on (not sampler, caps or devices)."""
        budget = asdict(self.budget)
        return {"scalesearch": _major_minor(__version__), "baseline": space.name,
                "space": space.network.spec_hash() if space.network else space.source,
                "grid": asdict(self.grid), "budget": budget, "data": self.data,
                "base_resolution": self.base_resolution, "test_images": self.test_images,
                "prune": self.prune}

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["grid"], data["budget"] = asdict(self.grid), asdict(self.budget)
        return data


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


# -- the study ---------------------------------------------------------------------------

def make_sampler(config: SearchConfig, feasible: list[int]) -> optuna.samplers.BaseSampler:
    seed = config.budget.seed
    if config.sampler == "grid":
        return optuna.samplers.GridSampler({"point": feasible}, seed=seed)
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=3)
    if config.sampler == "gp":
        if importlib.util.find_spec("scipy") is None:  # GPSampler's optimiser
            raise UserError("--sampler gp needs scipy: pip install 'scalesearch[gp]'")
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=3)
    return optuna.samplers.RandomSampler(seed=seed)


def make_pruner(config: SearchConfig) -> optuna.pruners.BasePruner:
    # Bigger models learn slower early: never judge before the warm-up epochs are done.
    warmup = max(1, config.prune_warmup)
    if config.prune == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=warmup, reduction_factor=3)
    if config.prune == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=warmup, max_resource=config.budget.epochs,
                                              reduction_factor=3)
    return optuna.pruners.NopPruner()


def open_study(storage: optuna.storages.BaseStorage, name: str, config: SearchConfig,
               space: SearchSpace, make_candidates: Callable[[], list[Candidate]]
               ) -> tuple[optuna.Study, list[Candidate]]:
    """Create or join study `name`; refuse one made for another baseline, space or budget."""
    fingerprint = config.fingerprint(space)
    existing = _existing_attrs(storage, name)
    if existing is not None and existing.get("fingerprint") not in (None, fingerprint):
        raise UserError(_mismatch(name, existing["fingerprint"], fingerprint))
    candidates = ([Candidate(**c) for c in existing["candidates"]]
                  if existing and existing.get("candidates") else make_candidates())
    feasible = [c.index for c in candidates if c.feasible]
    study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                sampler=make_sampler(config, feasible), pruner=make_pruner(config),
                                load_if_exists=True)
    attrs = study.user_attrs
    if "fingerprint" not in attrs:
        # Candidates first: the fingerprint tells a worker starting alongside that the study
        # is set up.  Two workers racing here write the same values.
        study.set_user_attr("candidates", [c.as_dict() for c in candidates])
        study.set_user_attr("fingerprint", fingerprint)
    elif attrs["fingerprint"] != fingerprint:  # another worker won the race
        raise UserError(_mismatch(name, attrs["fingerprint"], fingerprint))
    stored = study.user_attrs.get("candidates")  # absent only mid-set-up by another worker
    return study, [Candidate(**c) for c in stored] if stored else candidates


def _existing_attrs(storage: optuna.storages.BaseStorage, name: str) -> dict | None:
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return storage.get_study_user_attrs(study_id)


def _mismatch(name: str, old: dict, new: dict) -> str:
    for key in new:
        if old.get(key) != new[key]:
            return (f"study {name!r} already exists with a different {key} "
                    f"({_short(old.get(key))} vs {_short(new[key])}); use another --study or --out")
    return f"study {name!r} already exists with a different configuration; use another --study"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- point bookkeeping --------------------------------------------------------------------

@dataclass
class PointStatus:
    done: dict[int, FrozenTrial]
    running: dict[int, FrozenTrial]
    failures: dict[int, int]


def point_status(study: optuna.Study) -> PointStatus:
    done, running, failures = {}, {}, {}
    for trial in study.get_trials(deepcopy=False):
        point = trial.params.get("point")
        if point is None or trial.user_attrs.get("duplicate"):
            continue
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            done.setdefault(point, trial)
        elif trial.state == TrialState.RUNNING:
            running.setdefault(point, trial)
        elif trial.state == TrialState.FAIL and trial.user_attrs.get("failed_reason") == "error":
            failures[point] = failures.get(point, 0) + 1
    return PointStatus(done, running, failures)


def pending_points(candidates: list[Candidate], status: PointStatus) -> list[int]:
    return [c.index for c in candidates if c.feasible and c.index not in status.done
            and c.index not in status.running and status.failures.get(c.index, 0) < MAX_RETRIES]


def _holder(study: optuna.Study, trial: optuna.Trial, point: int) -> FrozenTrial | None:
    """Another live trial that has this point and a lower number (it keeps the point)."""
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                           TrialState.RUNNING)):
        if (other.number != trial.number and other.params.get("point") == point
                and not other.user_attrs.get("duplicate")
                and (other.state != TrialState.RUNNING or other.number < trial.number)):
            return other
    return None


# -- the worker ---------------------------------------------------------------------------

@dataclass
class Event:
    """What a worker tells its display: a trial started, finished an epoch, or ended."""

    kind: str  # start | epoch | end
    point: int
    trial: int
    epoch: int = 0
    value: float = math.nan
    state: str = ""


def run_worker(study: optuna.Study, candidates: list[Candidate], space: SearchSpace,
               config: SearchConfig, data: ImageData, *, device: str = "cpu",
               threads: int | None = None, on_event: Callable[[Event], None] | None = None,
               max_trainings: int | None = None) -> int:
    """Train points until none is left; return how many this worker trained.

    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it) marks the running trial FAIL,
    so the next run re-trains it, and propagates.
    """
    notify = on_event or (lambda event: None)
    by_index = {c.index: c for c in candidates}
    feasible = [c.index for c in candidates if c.feasible]
    trained = 0
    with _sigterm_as_interrupt():
        while max_trainings is None or trained < max_trainings:
            reap_stale_trials(study)
            status = point_status(study)
            pending = pending_points(candidates, status)
            if config.trials is not None and len(status.done) + len(status.running) >= config.trials + 1:
                pending = []
            if not pending:
                if not status.running:
                    return trained
                time.sleep(POLL_SECONDS)  # wait: a running point may need a retry if its worker dies
                continue
            if config.sampler == "grid" or 0 in pending:
                study.enqueue_trial({"point": pending[0]}, skip_if_exists=False)
            trial = study.ask()
            point = trial.suggest_categorical("point", feasible)
            if point in status.done or _holder(study, trial, point) is not None:
                trial.set_user_attr("duplicate", True)
                study.tell(trial, state=TrialState.PRUNED)
                if config.sampler != "grid":
                    _enqueue_next(study, pending)
                continue
            for key, value in owner_attrs().items():
                trial.set_user_attr(key, value)
            candidate = by_index[point]
            notify(Event("start", point, trial.number))
            try:
                with LeaseKeeper(study, trial._trial_id):
                    result = train_candidate(candidate, space, config, data, trial=trial,
                                             device=device, threads=threads,
                                             on_epoch=lambda e, v: notify(Event("epoch", point, trial.number, e, v)))
            except optuna.TrialPruned:
                study.tell(trial, state=TrialState.PRUNED)
                notify(Event("end", point, trial.number, state="pruned"))
                trained += 1
                continue
            except KeyboardInterrupt:
                trial.set_user_attr("failed_reason", "interrupted")
                study.tell(trial, state=TrialState.FAIL)
                notify(Event("end", point, trial.number, state="interrupted"))
                raise
            except UserError:
                raise
            except Exception as error:  # a bug or OOM in one trial must not kill the study
                trial.set_user_attr("failed_reason", "error")
                trial.set_user_attr("error", f"{type(error).__name__}: {error}")
                study.tell(trial, state=TrialState.FAIL)
                notify(Event("end", point, trial.number, state="failed"))
                continue
            for key, value in _result_attrs(result).items():
                trial.set_user_attr(key, value)
            value = result.val_accuracy if math.isfinite(result.val_accuracy) else 0.0
            study.tell(trial, value)
            notify(Event("end", point, trial.number, value=value, state=result.status))
            trained += 1
    return trained


def _enqueue_next(study: optuna.Study, pending: list[int]) -> None:
    """A model-based sampler re-proposed a finished point: take the next pending one instead."""
    if pending:
        study.enqueue_trial({"point": pending[0]}, skip_if_exists=False)


def train_candidate(candidate: Candidate, space: SearchSpace, config: SearchConfig, data: ImageData,
                    *, trial: optuna.Trial | None = None, device: str = "cpu",
                    threads: int | None = None,
                    on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Proxy-train one candidate at the proxy shape (base resolution x gamma, the data's shape)."""
    variant = Variant(space, candidate.alpha, candidate.beta, candidate.gamma).at_proxy(
        config.base_resolution, data.in_channels, data.num_classes)
    prunable = trial is not None and candidate.role != "baseline" and config.prune != "none"

    def report(epoch: int, accuracy: float) -> None:
        if on_epoch:
            on_epoch(epoch, accuracy)
        if trial is not None and math.isfinite(accuracy):
            trial.report(accuracy, epoch)
            if prunable and trial.should_prune():
                raise optuna.TrialPruned()

    return train_model(variant.build(config.budget.seed), data, variant.resolution, config.budget,
                       device=device, on_epoch=report, threads=threads)


def _result_attrs(result: TrainResult) -> dict[str, Any]:
    keys = ("val_accuracy", "test_accuracy", "images_per_second", "seconds", "status", "resolution",
            "epochs", "threads")
    attrs = {k: getattr(result, k) for k in keys}
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in attrs.items()}


class _sigterm_as_interrupt:
    """SIGTERM behaves like Ctrl-C, so a terminated worker marks its trial FAIL."""

    def __enter__(self) -> None:
        self._previous = None
        if _in_main_thread():
            self._previous = signal.signal(signal.SIGTERM, _raise_interrupt)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _in_main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def worker_threads(workers: int) -> int:
    """Cores per worker: oversubscribing two cores collapses throughput (reference.md)."""
    from scalesearch.training.loop import available_cores
    return max(1, available_cores() // max(1, workers))


def estimate_seconds(candidates: list[Candidate], space: SearchSpace, config: SearchConfig,
                     data: ImageData, pending: list[int], threads: int | None = None) -> float:
    """Rough wall time for the pending points: time training steps of the costliest one
    (`train.seconds_per_image`), then scale by images per trial and each point's FLOP ratio."""
    if not pending:
        return 0.0
    probe = max((c for c in candidates if c.index in pending), key=lambda c: c.measured_ratio)
    variant = Variant(space, probe.alpha, probe.beta, probe.gamma).at_proxy(
        config.base_resolution, data.in_channels, data.num_classes)
    per_image = seconds_per_image(variant.build(), variant.in_channels, variant.resolution,
                                  variant.num_classes, min(config.budget.batch_size, 32), threads)
    # Evaluation is a forward pass only: about a third of a training step's arithmetic.
    images = config.budget.epochs * (config.budget.train_images + config.budget.val_images / 3)
    return sum(per_image * images * c.measured_ratio / probe.measured_ratio
               for c in candidates if c.index in pending)
