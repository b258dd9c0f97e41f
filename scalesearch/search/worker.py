"""A search worker: claim a point nobody has finished or is training, train it, tell.

Every worker (a process here, a host elsewhere) runs `run_worker` on the same study:
reap trials whose worker died, pick a pending point, claim it (owner + lease), train,
tell.  Points are chosen by enqueueing (grid) or by the sampler over the feasible
candidates (tpe, gp, random).  A worker that finds it got a point another live worker
already holds gives it up before training, so each point is trained exactly once; one
killed mid-trial is re-run by whoever comes next.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import UserError
from scalesearch.processes import signals_as_interrupt
from scalesearch.search.candidates import Candidate
from scalesearch.search.storage import LeaseKeeper, owner_attrs, reap_stale_trials
from scalesearch.search.study import SearchConfig
from scalesearch.spec.spaces import SearchSpace
from scalesearch.training.data import ImageData
from scalesearch.training.loop import TrainResult, train_model

POLL_SECONDS = 2.0
MAX_RETRIES = 3  # a point whose trial failed this often (not by a dead worker) is given up


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
    pid: int = 0  # the worker process it happened in


def run_worker(study: optuna.Study, candidates: list[Candidate], space: SearchSpace,
               config: SearchConfig, data: ImageData, *, device: str = "cpu",
               threads: int | None = None, on_event: Callable[[Event], None] | None = None,
               max_trainings: int | None = None) -> int:
    """Train points until none is left; return how many this worker trained.

    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it) marks the running trial FAIL,
    so the next run re-trains it, and propagates.
    """
    pid = os.getpid()

    def notify(event: Event) -> None:
        if on_event is not None:
            event.pid = pid
            on_event(event)

    by_index = {c.index: c for c in candidates}
    feasible = [c.index for c in candidates if c.feasible]
    trained = 0
    with signals_as_interrupt():
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
                with LeaseKeeper(study, trial):
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
    variant = candidate.variant(space).at_proxy(config.base_resolution, data.in_channels, data.num_classes)
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
