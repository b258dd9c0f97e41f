"""The phi = 1 search as an Optuna study that many workers can share.

Each trial trains one candidate (candidates.py) with the proxy budget and reports its
validation accuracy per epoch.  The study's user attributes hold the configuration
fingerprint and the candidate list, so every worker (a process here, or a host on
PostgreSQL) sees the same points and a study made for another baseline, space or budget
is refused rather than mixed.  The workers themselves are in worker.py.
"""

from __future__ import annotations

import importlib.util
import json
import math
from dataclasses import asdict, dataclass
from typing import Any, Callable

import optuna

from scalesearch import __version__
from scalesearch.errors import UserError
from scalesearch.search.candidates import Candidate, GridSpec
from scalesearch.spec.spaces import SearchSpace
from scalesearch.training.budget import ProxyBudget

PRUNERS = ("none", "halving", "hyperband")
OBJECTIVES = ("accuracy", "pareto")


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
    seeds: int | None = None  # every feasible point this many times; None = racing
    max_seeds: int = 3  # racing: seeds per contender at most
    max_trainings: int | None = None  # racing: trainings in all (the baseline's included)
    confidence: float = 0.9
    objective: str = "accuracy"  # or "pareto": accuracy and cost, a front over several cost targets
    delta: float | None = None  # an indifference zone: a leader within delta of the best will do (ranking.py)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise UserError(f"{{objective}} must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.objective == "pareto" and self.sampler != "grid":
            raise UserError("{objective} pareto visits every point of every target: use {sampler} grid")
        if self.objective == "pareto" and self.prune != "none":
            raise UserError("{objective} pareto trains two objectives, which Optuna cannot prune; drop {prune}")
        if self.sampler not in SAMPLERS:
            raise UserError(f"{{sampler}} must be one of {', '.join(SAMPLERS)}, got {self.sampler!r}")
        if self.prune not in PRUNERS:
            raise UserError(f"{{prune}} must be one of {', '.join(PRUNERS)}, got {self.prune!r}")
        for name in ("trials", "seeds", "max_seeds", "max_trainings"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise UserError(f"{{{name}}} must be a whole number >= 1, got {value!r}")
        if not 0.5 <= self.confidence < 1:
            raise UserError(f"{{confidence}} must be in [0.5, 1), got {self.confidence}")
        if self.delta is not None and not (isinstance(self.delta, (int, float)) and 0 < self.delta < 1):
            raise UserError(f"{{delta}} must be an accuracy gap in (0, 1) (0.01 is one point), got {self.delta!r}")
        if self.base_resolution < 1:
            raise UserError(f"{{resolution}} must be a positive number of pixels, got {self.base_resolution}")

    @property
    def racing(self) -> bool:
        """Racing decides one winner; a Pareto front is trained at a fixed number of seeds."""
        return self.seeds is None and self.objective == "accuracy"

    def fingerprint(self, space: SearchSpace) -> dict[str, Any]:
        """What a resumed or joined study must agree on.  Not the sampler, caps, seed
        counts or devices: those decide how many units are trained, not what one means."""
        budget, grid = self.budget.as_dict(), asdict(self.grid)  # recipe defaults left out (budget.py)
        if not grid.get("latency_device"):
            grid.pop("latency_device", None)  # the default: studies from before it existed still match
        fingerprint = {"scalesearch": _major_minor(__version__), "baseline": space.name,
                       "space": space.network.spec_hash() if space.network else space.source,
                       "grid": grid, "budget": budget, "data": self.data,
                       "base_resolution": self.base_resolution, "test_images": self.test_images,
                       "prune": self.prune, "objective": self.objective}
        return json.loads(json.dumps(fingerprint))  # as the storage gives it back (tuples as lists)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["grid"], data["budget"] = asdict(self.grid), asdict(self.budget)
        return data


def _major_minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


# -- the study ---------------------------------------------------------------------------

# -- the coefficients as Optuna parameters ---------------------------------------------------

def param_names(grid: GridSpec) -> tuple[str, ...]:
    """2-D: beta and gamma (alpha is solved from them); 3-D: alpha, beta and gamma."""
    return ("beta", "gamma") if grid.shape == "2d" else ("alpha", "beta", "gamma")


def point_params(candidate: Candidate, grid: GridSpec) -> dict[str, float]:
    return {name: getattr(candidate, name) for name in param_names(grid)}


def suggest_params(trial: optuna.Trial, grid: GridSpec) -> dict[str, float]:
    """The trial's coefficients on the grid's lattice (what a sampler models).

    2-D: beta, gamma step from 1 — up to `high`, or down to `low` for a down-scaling grid
    (the lattice 1 - k step, so a proposal names a candidate exactly); 3-D: low..high."""
    low, high = suggest_range(grid)
    return {name: round(trial.suggest_float(name, low, high, step=grid.step), 6) for name in param_names(grid)}


def suggest_range(grid: GridSpec) -> tuple[float, float]:
    """(low, high) of the lattice a sampler draws from: both on the grid's steps."""
    if grid.shape == "2d" and grid.down:
        steps = int(math.floor((1.0 - grid.low) / grid.step + 1e-9))
        return round(1.0 - steps * grid.step, 6), 1.0
    low = 1.0 if grid.shape == "2d" else grid.low
    steps = int(math.floor((grid.high - low) / grid.step + 1e-9))
    return low, round(low + steps * grid.step, 6)


def set_violation(trial: optuna.Trial, candidate: Candidate, grid: GridSpec) -> float:
    """Tell the sampler how far a point is outside the law's band or its cost band (> 0:
    infeasible; Optuna's constraint API), and record it for a dashboard."""
    slack = max(abs(candidate.nominal_ratio / candidate.target - 1),
                abs(candidate.measured_ratio / candidate.target - 1))
    value = slack - grid.tolerance if candidate.feasible else max(slack - grid.tolerance, 1e-6)
    trial.set_constraint("cost_band", value)
    trial.set_user_attr("violation", value)
    return value


def _gp(seed: int) -> optuna.samplers.BaseSampler:
    if importlib.util.find_spec("scipy") is None:  # GPSampler's optimiser
        raise UserError("{sampler} gp needs scipy: pip install 'scalesearch[gp]'")
    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=3)


# Each sampler is one entry: its name (the CLI's --sampler) and how it is made from the seed.
# "grid" enqueues every unit itself, so its sampler is never asked to propose: a random one
# stands in only because a study must have one.  The others model the coefficients and avoid
# infeasible points through each trial's constraint.
SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "grid": lambda seed: optuna.samplers.RandomSampler(seed=seed),
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed, n_startup_trials=3),
    "gp": _gp,
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def make_sampler(config: SearchConfig) -> optuna.samplers.BaseSampler:
    """The study's sampler, from the registry (an unknown name was refused by SearchConfig)."""
    return SAMPLERS[config.sampler](config.budget.seed)


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
    existing = study_attrs(storage, name)
    if existing is not None and existing.get("fingerprint") not in (None, fingerprint):
        raise UserError(_mismatch(name, existing["fingerprint"], fingerprint))
    candidates = ([Candidate(**c) for c in existing["candidates"]]
                  if existing and existing.get("candidates") else make_candidates())
    directions = ["maximize", "minimize"] if config.objective == "pareto" else ["maximize"]
    study = optuna.create_study(storage=storage, study_name=name, directions=directions,
                                sampler=make_sampler(config), pruner=make_pruner(config), load_if_exists=True)
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


def study_attrs(storage: optuna.storages.BaseStorage, name: str) -> dict | None:
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return None
    return storage.get_study_user_attrs(study_id)


def _mismatch(name: str, old: dict, new: dict) -> str:
    for key in new:
        if old.get(key) != new[key]:
            return (f"study {name!r} already exists with a different {key} "
                    f"({_short(old.get(key))} vs {_short(new[key])}); use another {{study}} or {{out}}")
    return f"study {name!r} already exists with a different configuration; use another {{study}}"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 60 else text[:57] + "..."
