"""A search worker: claim a unit nobody has finished or is training, train it, tell.

A *unit* is one (point, seed): every grid point may be trained with several seeds, and
every unit is one Optuna trial, trained exactly once and re-run if its worker dies.
Every worker (a process here, a host elsewhere) runs `run_worker` on the same study:
reap trials whose worker died, work out which units are wanted (`wanted_units`), claim
one (owner + lease), train, tell.  Which units are wanted:

1. the baseline and every feasible point's first seed — enqueued in grid mode, proposed
   by the sampler (tpe, gp, random) otherwise, up to `trials` points;
2. then `seeds` seeds of every trained point, or, racing, a second seed for the points
   that measure the noise and then more seeds of the points that are not yet told apart
   from the leader (stats/ranking.py); and seeds of the baseline (`baseline_seeds`).
   A unit far below its point's other seeds (a straggler, stats/stragglers.py) counts
   for no seed: its point is trained once more on the next seed index.

Every worker computes the same list from the same finished units, so they agree; two
that claim the same unit at once keep the lower trial number and the other gives it up
before training.  Trials carry the coefficients as Optuna parameters (beta and gamma, or
alpha, beta and gamma in 3-D) and describe themselves in user attributes (alpha, beta,
gamma, nominal product, measured ratio, FLOPs, params, seed, proxy resolution), so a
dashboard reads them without scalesearch.  A sampler's proposal off the feasible set is
recorded as rejected — its constraint violated — and never trained.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from scalesearch.errors import UserError
from scalesearch.processes import signals_as_interrupt
from scalesearch.search.candidates import Candidate
from scalesearch.stats.ranking import racing_needs, rank
from scalesearch.stats.stragglers import retrains, screen
from scalesearch.search.storage import LeaseKeeper, owner_attrs, reap_stale_trials, retrying
from scalesearch.search.study import SearchConfig, point_params, set_violation, suggest_params
from scalesearch.spec.spaces import SearchSpace
from scalesearch.training import health
from scalesearch.training.data import ImageData
from scalesearch.training.unit import DataSource, train_unit, unit_seed
from scalesearch.training.loop import TrainResult

POLL_SECONDS = 2.0
MAX_RETRIES = 3  # a unit whose trial failed this often (not by a dead worker) is given up
Unit = tuple[int, int]  # (point index, seed index)


@dataclass
class UnitStatus:
    done: dict[Unit, FrozenTrial] = field(default_factory=dict)  # complete or pruned
    running: dict[Unit, FrozenTrial] = field(default_factory=dict)
    failures: dict[Unit, int] = field(default_factory=dict)
    rejected: list[FrozenTrial] = field(default_factory=list)  # sampler proposals off the feasible set

    def accuracies(self, candidates: list[Candidate]) -> dict[int, dict[int, float]]:
        """point -> seed -> validation accuracy of every complete unit of a candidate, leaving
        out every point with a unit that failed to train (training/health.py): its healthy
        seeds alone would rank the seeds the optimizer spared, not the network."""
        roles = {c.index: c.role for c in candidates}
        out: dict[int, dict[int, float]] = {}
        for (point, seed), trial in self.done.items():
            value = trial.user_attrs.get("val_accuracy")
            if (roles.get(point) == "candidate" and trial.state == TrialState.COMPLETE
                    and point not in self.failed_points and value is not None and math.isfinite(value)):
                out.setdefault(point, {})[seed] = float(value)
        return out

    @property
    def failed_units(self) -> list[Unit]:
        """The finished units that failed the health check."""
        return [unit for unit, trial in self.done.items()
                if trial.state == TrialState.COMPLETE and health.failed(trial.user_attrs)]

    @property
    def failed_points(self) -> set[int]:
        return {point for point, _ in self.failed_units}

    @property
    def trainings(self) -> int:
        return len(self.done) + len(self.running)


def unit_of(trial: FrozenTrial) -> Unit | None:
    point, seed = trial.user_attrs.get("point"), trial.user_attrs.get("seed")
    return None if point is None or seed is None else (int(point), int(seed))


def unit_status(study: optuna.Study) -> UnitStatus:
    status = UnitStatus()
    for trial in study.get_trials(deepcopy=False):
        unit = unit_of(trial)
        if trial.user_attrs.get("rejected"):
            status.rejected.append(trial)
        if unit is None or trial.user_attrs.get("duplicate"):
            continue
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            status.done.setdefault(unit, trial)
        elif trial.state == TrialState.RUNNING:
            status.running.setdefault(unit, trial)
        elif trial.state == TrialState.FAIL and trial.user_attrs.get("failed_reason") == "error":
            status.failures[unit] = status.failures.get(unit, 0) + 1
    return status


def wanted_units(candidates: list[Candidate], status: UnitStatus, config: SearchConfig) -> list[Unit]:
    """The units still to train, in order (see the module docstring)."""
    def open_(unit: Unit) -> bool:
        return (unit not in status.done and unit not in status.running
                and status.failures.get(unit, 0) < MAX_RETRIES)

    feasible = [c.index for c in candidates if c.feasible and c.role == "candidate"]
    first = [(0, 0)] + [(p, 0) for p in feasible]
    started = {p for p, s in (*status.done, *status.running) if s == 0 and p != 0}
    if config.trials is not None and len(started) >= config.trials:
        first = [u for u in first if u[0] == 0 or u[0] in started]
    pending = [u for u in first if open_(u)]
    if pending or any(s == 0 for _, s in status.running):
        return pending  # more seeds are decided once every first seed is in
    trained = sorted({p for p, s in status.done if p != 0 and status.done[(p, s)].state == TrialState.COMPLETE}
                     - status.failed_points)  # a point that failed to train is not ranked: no more seeds
    accuracies = status.accuracies(candidates)
    if not config.racing:
        more = [(p, s) for s in range(1, config.seeds or 1) for p in trained]
        more += [u for u in retrains(accuracies, config.seeds or 1) if u not in more]  # after a straggler
        most = config.seeds or 1
    else:
        more = racing_needs(accuracies, rank(accuracies, config.confidence, resamples=0), config.max_seeds,
                            delta=config.delta)
        kept, _ = screen(accuracies)  # a straggler's retrain is no reason for a baseline seed
        most = max([len(v) for v in kept.values()] + [s + 1 for _, s in more], default=1)
    more += [(0, s) for s in range(1, baseline_seeds(most, config.racing))]
    pending = [u for u in more if open_(u)]
    if config.max_trainings is not None:
        pending = pending[:max(0, config.max_trainings - status.trainings)]
    return pending


DATA_DIGEST = "data_digest"  # the study's: seed 0's data digest (training/data.ImageData.digest)


def check_data(study: optuna.Study, data: ImageData, config: SearchConfig) -> None:
    """Refuse, in one line, a worker whose seed-0 data is not the study's: the first worker
    records its digest, every later one must match it.  (Without it a worker whose
    --data-dir held other images trained every unit and the grid reported complete.)
    Two workers with different data starting in the same instant can both record theirs;
    the one whose digest does not stay is refused at its next start."""
    recorded = study.user_attrs.get(DATA_DIGEST)
    if recorded is None:
        study.set_user_attr(DATA_DIGEST, data.digest)
        recorded = study.user_attrs.get(DATA_DIGEST)  # read back from the storage: another may have won
    if recorded != data.digest:
        where = config.data_dir or "its default location"
        raise UserError(f"this worker's {config.data} data ({where}) is not the data study {study.study_name!r} "
                        f"was trained on (digest {data.digest}, the study's {recorded}): point --data-dir at "
                        "the same files as the other workers")


def baseline_seeds(most: int, racing: bool) -> int:
    """The baseline's seeds, given the most any candidate has.  The baseline anchors "the
    leader is X points over the baseline" and takes no part in the race, so racing gives
    it the noise sample's two seeds and spends no third where it decides nothing (the
    interval against the leader comes from the two-way fit over every unit, which takes an
    unbalanced design); with `--seeds K` it has K like every point."""
    return min(most, 2) if racing else most


def _holder(study: optuna.Study, trial: optuna.Trial, unit: Unit) -> FrozenTrial | None:
    """Another live trial that has this unit and a lower number (it keeps the unit)."""
    for other in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED,
                                                           TrialState.RUNNING)):
        if (other.number != trial.number and unit_of(other) == unit
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
    seed: int = 0


def run_worker(study: optuna.Study, candidates: list[Candidate], space: SearchSpace,
               config: SearchConfig, data: ImageData | None = None, *, device: str = "cpu",
               threads: int | None = None, on_event: Callable[[Event], None] | None = None,
               max_trainings: int | None = None) -> int:
    """Train units until none is wanted; return how many this worker trained.

    `data` is the seed-0 data (`load_data` for the config); other seeds load their own.
    KeyboardInterrupt (Ctrl-C, or SIGTERM turned into it) marks the running trial FAIL,
    so the next run re-trains it, and propagates.
    """
    pid = os.getpid()

    def notify(event: Event) -> None:
        if on_event is not None:
            event.pid = pid
            on_event(event)

    by_index = {c.index: c for c in candidates}
    params_of = {c.index: point_params(c, config.grid) for c in candidates if c.role == "candidate"}
    if data is not None:
        retrying(lambda: check_data(study, data, config))
    trained = 0
    with signals_as_interrupt():
        while max_trainings is None or trained < max_trainings:
            status = retrying(lambda: _look(study))
            wanted = wanted_units(candidates, status, config)
            if not wanted:
                if not status.running:
                    return trained
                time.sleep(POLL_SECONDS)  # a running unit may decide more, or need a retry
                continue
            trial, unit = retrying(lambda: _claim(study, config, wanted, params_of))
            if unit is None:
                continue
            candidate = by_index[unit[0]]
            if not candidate.feasible:
                _reject(study, trial, candidate, config)
                continue
            if unit in status.done or _holder(study, trial, unit) is not None:
                trial.set_user_attr("duplicate", True)
                for name in ("alpha", "beta", "gamma"):  # what was proposed, though another trial trains it
                    trial.set_user_attr(name, getattr(candidate, name))
                trial.set_user_attr("note", "a unit another trial holds or has trained: not trained again")
                # A multi-objective study takes no PRUNED trials: FAIL says "not a result" there.
                study.tell(trial, state=TrialState.FAIL if _pareto(study) else TrialState.PRUNED)
                continue
            try:
                _describe(trial, candidate, unit, space, config, data)
            except optuna.exceptions.UpdateFinishedTrialError:
                continue  # reaped under us before its lease was written: the unit is wanted again
            notify(Event("start", unit[0], trial.number, seed=unit[1]))
            try:
                unit_data = data_for_seed(config, data, unit[1])
                trial.set_user_attr("data_digest", unit_data.digest)  # what this unit saw
                with LeaseKeeper(study, trial):
                    result = train_candidate(candidate, space, config, unit_data,
                                             seed_index=unit[1], trial=trial, device=device, threads=threads,
                                             on_epoch=lambda e, v: notify(Event("epoch", unit[0], trial.number, e, v,
                                                                                seed=unit[1])))
            except optuna.TrialPruned:
                study.tell(trial, state=TrialState.PRUNED)
                notify(Event("end", unit[0], trial.number, state="pruned", seed=unit[1]))
                trained += 1
                continue
            except KeyboardInterrupt:
                trial.set_user_attr("failed_reason", "interrupted")
                study.tell(trial, state=TrialState.FAIL)
                notify(Event("end", unit[0], trial.number, state="interrupted", seed=unit[1]))
                raise
            except UserError:
                raise
            except Exception as error:  # a bug or OOM in one trial must not kill the study
                trial.set_user_attr("failed_reason", "error")
                trial.set_user_attr("error", f"{type(error).__name__}: {error}")
                study.tell(trial, state=TrialState.FAIL)
                notify(Event("end", unit[0], trial.number, state="failed", seed=unit[1]))
                continue
            try:
                retrying(lambda: _finish(study, trial, candidate, result))
            except optuna.exceptions.UpdateFinishedTrialError:
                # Reaped while training (its lease ran out: a suspended host, a stalled disk);
                # the unit was failed as "worker died" and another training takes it.
                notify(Event("end", unit[0], trial.number, state="lost", seed=unit[1]))
                continue
            notify(Event("end", unit[0], trial.number, value=result.val_accuracy, state=result.status,
                         seed=unit[1]))
            trained += 1
    return trained


def _look(study: optuna.Study) -> UnitStatus:
    reap_stale_trials(study)
    return unit_status(study)


def _finish(study: optuna.Study, trial: optuna.Trial, candidate: Candidate, result: TrainResult) -> None:
    if trial.number in {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))}:
        return  # told already: a retry after the connection dropped once the tell was through
    for key, value in _result_attrs(result).items():
        trial.set_user_attr(key, value)
    value = result.val_accuracy if math.isfinite(result.val_accuracy) else 0.0
    study.tell(trial, [value, candidate.measured_ratio] if _pareto(study) else value)
    # A commit marker after the record that finishes the unit: a journal torn at its end
    # (a kill or a full disk) then loses the marker, not the finished unit.
    study.set_user_attr("last_told", trial.number)


def _claim(study: optuna.Study, config: SearchConfig, wanted: list[Unit],
           params_of: dict[int, dict[str, float]]) -> tuple[optuna.Trial, Unit | None]:
    """Ask for a trial: the first wanted unit, enqueued, or the sampler's proposal of a
    first seed (a model-based sampler chooses which points to try)."""
    unit = wanted[0]
    proposing = config.sampler != "grid" and unit[1] == 0 and unit[0] != 0
    if not proposing:
        study.enqueue_trial(params_of.get(unit[0], {}), user_attrs={"point": unit[0], "seed": unit[1]},
                            skip_if_exists=False)
    trial = study.ask()
    if unit_of(trial) is not None or "point" in trial.user_attrs:  # an enqueued unit (ours or another's)
        point, seed = trial.user_attrs["point"], trial.user_attrs["seed"]
        if point != 0:
            suggest_params(trial, config.grid)
        return trial, (int(point), int(seed))
    values = suggest_params(trial, config.grid)
    point = next((index for index, params in params_of.items() if params == values), None)
    if point is None:  # off the candidate list: the law's region ends there (alpha < 1, ...)
        # Told as a COMPLETE trial that violates its constraint, so a model-based sampler learns
        # to avoid the region; it carries its coefficients (alpha from the law, even below 1)
        # and why, so a dashboard shows what was proposed and why it was not trained.
        proposed = _proposed_coefficients(values, config.grid)
        for key, value in {"rejected": True, "violation": 1.0, **proposed,
                           "nominal_product": proposed["alpha"] * proposed["beta"] ** 2 * proposed["gamma"] ** 2,
                           "note": _outside_why(proposed, config.grid)}.items():
            trial.set_user_attr(key, value)
        trial.set_constraint("cost_band", 1.0)
        study.tell(trial, [0.0, math.inf] if _pareto(study) else 0.0)
        return trial, None
    trial.set_user_attr("point", point)
    trial.set_user_attr("seed", 0)
    return trial, (point, 0)


def _proposed_coefficients(values: dict[str, float], grid) -> dict[str, float]:
    """A proposal's alpha, beta, gamma: a 2-D grid's alpha solved from the law."""
    if "alpha" in values:
        return {"alpha": values["alpha"], "beta": values["beta"], "gamma": values["gamma"]}
    beta, gamma = values["beta"], values["gamma"]
    return {"alpha": round(grid.target / (beta ** 2 * gamma ** 2), 6), "beta": beta, "gamma": gamma}


def _outside_why(c: dict[str, float], grid) -> str:
    if grid.down and c["alpha"] > 1:
        return f"outside the grid's feasible region: the law gives alpha {c['alpha']:.3g} > 1 (a deeper network, scaling down)"
    if not grid.down and c["alpha"] < 1:
        return f"outside the grid's feasible region: the law gives alpha {c['alpha']:.3g} < 1 (a shallower network)"
    return "outside the grid's feasible region: not a point of the grid (off its step or range, or its product)"


def _reject(study: optuna.Study, trial: optuna.Trial, candidate: Candidate, config: SearchConfig) -> None:
    """A proposed point that breaks the law or its cost band: recorded, never trained."""
    set_violation(trial, candidate, config.grid)
    for key, value in {"rejected": True, "alpha": candidate.alpha, "beta": candidate.beta, "gamma": candidate.gamma,
                       "nominal_product": candidate.nominal_ratio, "measured_ratio": candidate.measured_ratio,
                       "note": candidate.note}.items():
        trial.set_user_attr(key, value)
    study.tell(trial, [0.0, candidate.measured_ratio] if _pareto(study) else 0.0)


def _pareto(study: optuna.Study) -> bool:
    """Accuracy and cost as two objectives (grid --objective pareto)."""
    return len(study.directions) > 1


def _describe(trial: optuna.Trial, candidate: Candidate, unit: Unit, space: SearchSpace,
              config: SearchConfig, data: ImageData | None) -> None:
    """Owner and lease, and what the trial is, in user attributes a dashboard can show."""
    network = candidate.variant(space)
    in_channels = data.in_channels if data is not None else 3
    num_classes = data.num_classes if data is not None else 1000
    attrs = {**owner_attrs(), "alpha": candidate.alpha, "beta": candidate.beta, "gamma": candidate.gamma,
             "nominal_product": candidate.nominal_ratio, "measured_ratio": candidate.measured_ratio,
             "flops": candidate.flops, "params": network.fast_cost().params, "seed": unit[1],
             "seed_value": config.budget.seed + unit[1], "role": candidate.role,
             "proxy_resolution": network.at_proxy(config.base_resolution, in_channels, num_classes).resolution}
    for key, value in attrs.items():
        trial.set_user_attr(key, value)
    set_violation(trial, candidate, config.grid)


def data_for_seed(config: SearchConfig, data: ImageData | None, seed_index: int) -> ImageData:
    """Seed s's data: its own validation split and training subset (common to every point)."""
    if data is not None and seed_index == 0:
        return data
    budget = config.budget
    return DataSource(config.data, config.data_dir, train_images=budget.train_images, val_images=budget.val_images,
                      test_images=config.test_images).load(unit_seed(budget, seed_index))


def train_candidate(candidate: Candidate, space: SearchSpace, config: SearchConfig, data: ImageData,
                    *, seed_index: int = 0, trial: optuna.Trial | None = None, device: str = "cpu",
                    threads: int | None = None,
                    on_epoch: Callable[[int, float], None] | None = None) -> TrainResult:
    """Proxy-train one unit at the proxy shape (base resolution x r, the data's shape).

    Seed s means budget seed (the base seed + s) for the weights, the order, the crops and
    the split.  The test split is evaluated once per point (its first seed), and the
    validation split once per training (after its last epoch; every epoch only where a
    pruner needs them): what is only reported, or not read, is not computed.
    """
    variant = candidate.variant(space).at_proxy(config.base_resolution, data.in_channels, data.num_classes)
    prunable = (trial is not None and candidate.role != "baseline" and config.prune != "none"
                and seed_index == 0)

    def report(epoch: int, accuracy: float) -> None:
        if on_epoch:
            on_epoch(epoch, accuracy)
        if prunable and math.isfinite(accuracy):
            trial.report(accuracy, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()

    return train_unit(variant, config.budget, seed_index, data, device=device, threads=threads,
                      on_epoch=report, validate_each_epoch=prunable)


def _result_attrs(result: TrainResult) -> dict[str, Any]:
    keys = ("val_accuracy", "test_accuracy", "images_per_second", "seconds", "status", "resolution",
            "epochs", "threads", "first_loss")
    attrs = {k: getattr(result, k) for k in keys}
    if result.status != "ok":
        attrs["note"] = result.message  # why it failed to train: trials.csv's note
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in attrs.items()}
