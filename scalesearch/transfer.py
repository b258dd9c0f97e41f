"""transfer: does the phi = 1 choice still win when the family grows to phi?

The method rests on one assumption: coefficients found by cheap phi = 1 trainings stay
good as the family grows.  Bello et al., "Revisiting ResNets" (arXiv 2103.07579), found
that the best scaling strategy can depend on model size and training regime.  This
checks the assumption for one grid run:

1. **The points.**  The grid's top K by mean validation accuracy (its own ranking over
   every seed it trained), the paper's (1.2, 1.1, 1.15) when not among them, and the
   grid's best single-dimension point (two coefficients at 1, see `is_single_dimension`)
   when it has one.  A point the grid never trained (usually the paper's, whose product
   1.92 is outside the default band) has no phi = 1 rank: it is ranked at phi only.
2. **Grown to phi.**  Each point's family member phi, (alpha, beta, gamma)^t with t near
   phi, landed on the grid's target^phi x the baseline's measured cost within the grid's
   own tolerance and cost by the one landing rule (`measure.landing.land`, through
   `family.expand_family`), so every point is compared at the same cost, as at phi = 1,
   and transfer --phi 1 trains exactly the grid's own phi = 1 networks.
3. **Trained** with the grid's proxy budget, its epochs x F^phi for `budget_scale` F, at
   the proxy shape (the grid's base px x the grown network's r), `seeds` seeds each: one
   unit per (point, seed) in units.jsonl (runs/compare_units.py), so a rerun trains only
   what is missing.  Seed k is the grid's seed k: its validation split, order and crops.
4. **The answer.**  Both rankings (stats/ranking.py: least squares over seeds, seed
   effects removed, each point's noise moderated), Kendall's tau between them over the
   points ranked on both sides beside the range perfect transfer would give it at this
   noise (stats/rank_agreement.py), and a verdict on the phi = 1 winner W (the grid's
   leader).  W is fixed before phi's trainings, so it is the control of Dunnett's
   many-to-one simultaneous intervals (`versus_control`): it *holds* when W beats every
   other point, *does not hold* when some point beats W, each beyond noise with every
   interval holding at once at `confidence`; otherwise it is *undecided* (W tied with
   some, or one seed per point and so no noise estimate).

**The fidelity check** is the same question asked of the budget instead of the size:
`--phi 1 --budget-scale F` retrains the grid's own phi = 1 networks F x longer -- its
contenders, its top K and points spread over the rest of its ranking (`fidelity_points`)
-- and says whether the proxy's answer holds there (the verdict on W) and how well the
two rankings agree (tau beside perfect agreement's range at this noise).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from scalesearch.errors import UserError
from scalesearch.family import FamilyPlan, Member, expand_family, landing_cost, phi_member
from scalesearch.costs.variant import Variant
from scalesearch.runs.compare_units import pending_units, read_units, train_units, unit_key
from scalesearch.requests import BudgetChoice, Placement, flat, uncalibrated
from scalesearch.runs.grid_tables import FinishedGrid, read_finished_grid
from scalesearch.runs.run_dir import RunInfo, claim_run_dir, default_run_dir, finish_run
from scalesearch.runs.transfer_files import RESULTS, write_transfer
from scalesearch.stats.stragglers import screen
from scalesearch.stats.rank_agreement import rank_agreement
from scalesearch.stats.ranking import Difference, Ranking, TwoWay, evenly_spaced, rank, versus_control
from scalesearch.spec.phis import phi_label
from scalesearch.spec.scaling import PAPER_B0, Coefficients, label
from scalesearch.spec.spaces import SearchSpace, load_space
from scalesearch.training.budget import ProxyBudget, budget_scale_problem
from scalesearch.training.data import ImageData
from scalesearch.device import check_threads, resolve_device
from scalesearch.training import health, unit
from scalesearch.training.timing import estimate_seconds

RESAMPLES = 4000  # draws for p_best and the perfect-transfer range of tau
PAPER = label(PAPER_B0.as_dict())


class TransferError(UserError):
    """Bad transfer input: a phi, top K, seed count, budget scale, or a grid it cannot use."""


@dataclass(frozen=True)
class TransferRequest:
    """What `scalesearch transfer` was asked."""

    from_dir: Path
    phi: float = 2.0
    top: int = 4
    # 4: at the grid's own noise sd, Dunnett's intervals over 5 points then call a 3-sd gap
    # to the winner ("holds" / "does not hold") in 85 %+ of simulated runs, against 35-57 %
    # at 2 seeds and 69-85 % at 3 (benchmarks/calibration.py, the transfer cases).
    seeds: int = 4
    budget_scale: float = 1.0  # the phi side trains epochs x budget_scale^phi
    confidence: float = 0.9
    out: Path | None = None  # default runs/transfer-BASELINE-phiP
    placement: Placement = field(default_factory=Placement)  # None: every free core, the grid's data folder
    command: str = ""

    def __post_init__(self) -> None:
        if not (_number(self.phi) and self.phi >= 1):
            raise TransferError(f"{{phi}} must be a number >= 1 (1 with {{budget_scale}} > 1: a fidelity check), "
                                f"got {self.phi!r}")
        for name in ("top", "seeds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise TransferError(f"{{{name}}} must be a whole number >= 1, got {value!r}")
        problem = budget_scale_problem(self.budget_scale, "the grid's epochs")
        if problem:
            raise TransferError(problem)
        if self.phi == 1 and not self.budget_scale > 1:
            raise TransferError("{phi} 1 retrains the grid's own networks: give {budget_scale} > 1 for a fidelity "
                                f"check (e.g. 4: four times the grid's epochs), got {self.budget_scale!r}")
        if not 0.5 <= self.confidence < 1:
            raise TransferError(f"{{confidence}} must be in [0.5, 1), got {self.confidence}")
        check_threads(self.placement.threads)

    @property
    def fidelity(self) -> bool:
        """phi = 1 at a longer budget: is the proxy's answer that of a longer training?"""
        return self.phi == 1

    @property
    def at(self) -> str:
        """Where the question is asked, in a reader's words."""
        if self.fidelity:
            return f"φ = 1, {self.budget_scale:g}× the grid's epochs"
        return f"φ = {phi_label(self.phi)}"

    def as_dict(self) -> dict[str, Any]:
        return flat(self)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- the grid it starts from ---------------------------------------------------------------

@dataclass(frozen=True)
class GridSource:
    """What a transfer takes from its grid: baseline, budget, data, base px and cost band."""

    grid: FinishedGrid
    space: SearchSpace
    budget: ProxyBudget
    data: str
    data_dir: str | None
    test_images: int | None
    base_resolution: int
    target: float
    tolerance: float
    step: float
    cost: str = "flops"  # what the grid landed its networks on (and transfer lands its members on)

    @classmethod
    def read(cls, run_dir: Path) -> "GridSource":
        grid = read_finished_grid(run_dir)
        identity, request = grid.identity, grid.request
        try:
            space = load_space(str(request.get("baseline") or grid.info.get("baseline")))
        except UserError as error:
            raise TransferError(f"{{from}} {run_dir}: cannot load the grid's baseline: {error.template}") from None
        if space.identity != grid.info.get("space"):
            raise TransferError(f"{{from}} {run_dir}: the baseline {space.name!r} has changed since the grid "
                                "ran (its network's hash differs); rerun the grid")
        try:
            band = identity["grid"]
            return cls(grid, space, ProxyBudget.for_space(identity["budget"]), identity["data"],
                       request.get("data_dir"), identity.get("test_images"), int(identity["base_resolution"]),
                       float(band["target"]), float(band["tolerance"]), float(band["step"]),
                       str(band.get("cost") or "flops"))
        except (KeyError, TypeError, ValueError):
            raise TransferError(f"{{from}} {run_dir}: run.json has no budget, data or grid band in its "
                                "identity (made by another version?); rerun the grid") from None

    def fingerprint(self) -> dict[str, Any]:
        """The grid's identity without where its study lives (a moved grid is the same grid)."""
        return {k: v for k, v in self.grid.identity.items() if k not in ("study", "storage")}


def phi_budget(budget: ProxyBudget, phi: float, scale: float) -> ProxyBudget:
    """The grid's budget with epochs x scale^phi, rounded to whole epochs (at least one)."""
    return replace(budget, epochs=max(1, round(budget.epochs * scale ** phi)))


# -- which points ------------------------------------------------------------------------

def is_single_dimension(c: Coefficients, step: float, tolerance: float) -> bool:
    """Two of alpha, beta, gamma at 1: within half a grid step of it, or twice the band's
    tolerance (a 2-D grid's alpha = target / (beta^2 gamma^2) can sit that near 1 without
    being set to 1, as in grids made before alpha was set to 1 within the law's band)."""
    near = max(step / 2, 2 * tolerance) + 1e-9
    return sum(abs(x - 1) <= near for x in (c.alpha, c.beta, c.gamma)) == 2


@dataclass(frozen=True)
class Chosen:
    label: str
    coefficients: Coefficients
    roles: tuple[str, ...]  # why it is in: "top 1".."top K", "paper", "best single-dimension"


def choose_points(ranking: Ranking, coefficients: dict[str, Coefficients], top: int, step: float,
                  tolerance: float) -> list[Chosen]:
    """The grid's top `top` (ranking order), then the paper's point and the best
    single-dimension point when they are not already in."""
    order = [p.point for p in ranking.points]
    roles = {name: [f"top {i + 1}"] for i, name in enumerate(order[:top])}
    roles.setdefault(PAPER, []).append("paper")
    single = next((name for name in order if is_single_dimension(coefficients[name], step, tolerance)), None)
    if single is not None:
        roles.setdefault(single, []).append("best single-dimension")
    known = {**coefficients, PAPER: coefficients.get(PAPER, PAPER_B0)}
    return [Chosen(name, known[name], tuple(why)) for name, why in roles.items()]


def fidelity_points(ranking: Ranking, coefficients: dict[str, Coefficients], top: int,
                    spread: int = 2) -> list[Chosen]:
    """A fidelity check's points: the grid's contenders and its top `top` (ranking order),
    then `spread` points at evenly spaced ranks of the rest, its lowest included -- so the
    longer training sees the answer and the ranking's range, not the top alone."""
    order = [p.point for p in ranking.points]
    roles = {name: [f"top {rank}"] + (["contender"] if name in ranking.contenders else [])
             for rank, name in enumerate(order, start=1) if name in ranking.contenders or rank <= top}
    for name in evenly_spaced([name for name in order if name not in roles], spread):
        roles[name] = [f"spread: rank {order.index(name) + 1} of {len(order)}"]
    return [Chosen(name, coefficients[name], tuple(why)) for name, why in roles.items()]


@dataclass
class TransferPoint:
    """A chosen point grown to phi and measured at the deployment shape."""

    chosen: Chosen
    member: Member
    tolerance: float

    @property
    def key(self) -> str:
        return f"phi{phi_label(self.member.plan.phi)}/{self.chosen.label}"

    @property
    def within_tolerance(self) -> bool:
        return abs(self.member.flops_ratio / self.member.target_ratio - 1) <= self.tolerance + 1e-12


def grow(source: GridSource, chosen: Chosen, phi: float) -> TransferPoint:
    """Member phi of the point's family on target^phi x the baseline's cost (the grid's band)."""
    plan = FamilyPlan(source=f"transfer {chosen.label}", coefficients=chosen.coefficients,
                      members=(phi_member(source.space, chosen.coefficients, phi),), growth=source.target,
                      tolerance=source.tolerance, cost=landing_cost(source.cost))
    member = expand_family(source.space, plan).members[0]
    return TransferPoint(chosen, member, source.tolerance)


# -- training ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TransferSetup:
    """What every unit shares: the grid's data and base px, the phi side's budget."""

    source: GridSource
    data: ImageData  # seed 0's
    budget: ProxyBudget  # its seed is the grid's base seed
    device: str = "cpu"
    threads: int | None = None

    def proxy(self, point: TransferPoint) -> Variant:
        return point.member.variant.at_proxy(self.source.base_resolution, self.data.in_channels,
                                             self.data.num_classes)

    @property
    def source_of_data(self) -> unit.DataSource:
        return _data_source(self.source, self.budget)


def _data_source(source: "GridSource", budget: ProxyBudget) -> unit.DataSource:
    """Where every unit's images come from, as the grid's: seed s's split is `load(budget.seed + s)`."""
    return unit.DataSource(source.data, source.data_dir, train_images=budget.train_images,
                           val_images=budget.val_images, test_images=source.test_images)


def train_unit(setup: TransferSetup, point: TransferPoint, seed_index: int) -> dict:
    """Train one grown point once, as the grid trains its seed `seed_index` (test split on
    seed 0 only: it is reported, never ranked on); the record for units.jsonl."""
    proxy = setup.proxy(point)
    result = unit.train_unit(proxy, setup.budget, seed_index, setup.source_of_data, device=setup.device,
                             threads=setup.threads)
    return {"key": unit_key(point.key, seed_index), "label": point.chosen.label, "seed_index": seed_index,
            "seed": unit.unit_seed(setup.budget, seed_index), "proxy": proxy.describe(), "proxy_flops": proxy.macs(),
            **result.as_dict()}


def estimates(setup: TransferSetup, todo: list[tuple[TransferPoint, int]]) -> dict[str, float]:
    """Seconds each pending unit should take (training.timing)."""
    seconds = estimate_seconds([setup.proxy(p) for p, _ in todo], setup.budget, len(setup.data.train_y),
                               len(setup.data.val_y), len(setup.data.test_y), setup.threads)
    return {unit_key(p.key, k): t for (p, k), t in zip(todo, seconds)}


# -- the answer ------------------------------------------------------------------------------

def ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def verdict(winner: str, ranking: Ranking, phi: float, seeds: int,
            against: dict[str, Difference] | None = None, at: str | None = None) -> tuple[str, str]:
    """("holds" | "does not hold" | "undecided", one sentence) for the phi = 1 winner at phi,
    from `against`: W minus every other point at phi, Dunnett's simultaneous intervals.
    `at` names where (default "φ = phi"; a fidelity check's says its budget)."""
    at = at or f"φ = {phi_label(phi)}"
    names = [p.point for p in ranking.points]
    if winner not in names:
        return "undecided", f"undecided at this budget: {winner} finished no training at {at}."
    if not ranking.noise.known or not against or not all(math.isfinite(d.low) for d in against.values()):
        why = "one seed per point" if seeds < 2 else "no point has two seeds yet"
        return "undecided", f"undecided at this budget: {why} gives no noise estimate at {at} (train more seeds)."
    place, conf = names.index(winner) + 1, f"{ranking.confidence:.0%}"
    beaten = sorted((d.mean, o, d) for o, d in against.items() if d.verdict == "loses to")
    if beaten:
        _, other, d = beaten[0]
        return "does not hold", (f"it does not: {winner} falls from 1st to {ordinal(place)} at {at}, beyond noise "
                                 f"({other} beats it by {-d.mean * 100:.1f} points, {-d.high * 100:.1f} to "
                                 f"{-d.low * 100:.1f}: {conf} simultaneous interval, Dunnett with {winner} "
                                 "as the control).")
    if all(d.verdict == "beats" for d in against.values()):
        _, runner, d = min((d.mean, o, d) for o, d in against.items())
        return "holds", (f"the φ = 1 choice holds at {at}: {winner} is still best, ahead of every other point; the "
                         f"closest, {runner}, by {d.mean * 100:.1f} points ({d.low * 100:.1f} to {d.high * 100:.1f}: "
                         f"{conf} simultaneous interval, Dunnett with {winner} as the control).")
    tied = [o for o in names if o in against and against[o].verdict == "ties"]
    return "undecided", (f"undecided at this budget: {winner} is {ordinal(place)} at {at}, tied with "
                         f"{', '.join(map(str, tied))} within noise ({conf} simultaneous intervals, Dunnett with {winner} "
                         "as the control).")


def phi_observations(points: list[TransferPoint], units: dict[str, dict], seeds: int) -> dict[str, dict[int, float]]:
    """label -> seed -> validation accuracy of every finished unit at phi, leaving out every
    point with a unit that failed to train (training/health.py): it is ranked nowhere."""
    out: dict[str, dict[int, float]] = {}
    for point in points:
        if any(health.failed(units.get(unit_key(point.key, k))) for k in range(seeds)):
            continue
        for k in range(seeds):
            unit = units.get(unit_key(point.key, k))
            value = unit.get("val_accuracy") if unit and unit.get("status") == "ok" else None
            if value is not None and math.isfinite(value):
                out.setdefault(point.chosen.label, {})[k] = float(value)
    return out


def answer(obs_1, ranking_1: Ranking, obs_phi, ranking_phi: Ranking, shared: list[str],
           confidence: float) -> tuple[Any, dict[str, Difference] | None]:
    """Kendall's tau over `shared` beside perfect transfer's, and the phi = 1 winner minus
    every other point at phi (Dunnett, the winner the control); benchmarks/calibration.py
    runs this very function on simulated grids."""
    (obs_1, _), (obs_phi, _) = screen(obs_1), screen(obs_phi or {})  # as `rank` saw them: no stragglers
    fit_1, fit_phi = TwoWay(obs_1), TwoWay(obs_phi) if obs_phi else None
    known = bool(shared) and fit_1.noise.known and fit_phi is not None and fit_phi.noise.known
    agreement = rank_agreement([ranking_1.get(n).mean for n in shared], [ranking_phi.get(n).mean for n in shared],
                               # perfect transfer keeps phi = 1's means, shrunk
                               fit_1.shrunk_means_of(shared) if known else None,
                               fit_1.error_draws(shared, 1, RESAMPLES) if known else None,
                               fit_phi.error_draws(shared, 2, RESAMPLES) if known else None, confidence)
    winner = ranking_1.leader
    against = (versus_control(fit_phi, winner, confidence)
               if fit_phi is not None and winner in obs_phi and len(obs_phi) > 1 else None)
    return agreement, against


def _ranking_summary(ranking: Ranking) -> dict[str, Any]:
    return {"leader": ranking.leader, "contenders": ranking.contenders, "decided": ranking.decided,
            "noise": {"sd": ranking.noise.sd, "df": ranking.noise.df, "kind": ranking.noise.kind}}


def _side(ranking: Ranking, names: list[str], name: str, suffix: str) -> dict[str, Any]:
    """One point's rank, mean, interval and test against the leader on one side."""
    if name not in names:
        return {f"{k}_{suffix}": None for k in ("rank", "mean", "low", "high", "seeds", "diff", "diff_low",
                                                 "diff_high", "separated", "contender", "p_best")}
    s = ranking.get(name)
    return {f"rank_{suffix}": names.index(name) + 1, f"mean_{suffix}": s.mean, f"low_{suffix}": s.low,
            f"high_{suffix}": s.high, f"seeds_{suffix}": s.seeds, f"diff_{suffix}": s.diff,
            f"diff_low_{suffix}": s.diff_low, f"diff_high_{suffix}": s.diff_high,
            f"separated_{suffix}": s.separated, f"contender_{suffix}": name in ranking.contenders,
            f"p_best_{suffix}": s.p_best}


def point_row(point: TransferPoint, ranking_1: Ranking, names_1: list[str], ranking_phi: Ranking,
              names_phi: list[str], units: dict[str, dict], seeds: int, proxy: Callable) -> dict[str, Any]:
    m, c = point.member, point.chosen
    done = [units[key] for k in range(seeds) if (key := unit_key(point.key, k)) in units]
    first = units.get(unit_key(point.key, 0)) or {}
    small = proxy(point)
    return {"label": c.label, "alpha": c.coefficients.alpha, "beta": c.coefficients.beta,
            "gamma": c.coefficients.gamma, "roles": "; ".join(c.roles), "in_grid": c.label in names_1,
            **_side(ranking_1, names_1, c.label, "phi1"), **_side(ranking_phi, names_phi, c.label, "phi"),
            "failed_phi": sum(u.get("status") != "ok" for u in done),
            "test_accuracy_phi": first.get("test_accuracy") if first.get("status") == "ok" else None,
            "phi": m.plan.phi, "t": m.t, "depth": m.variant.depth, "width": m.variant.width,
            "resolution_mult": m.variant.resolution_mult, "resolution": m.variant.resolution,
            "params": m.cost.params, "flops": m.cost.flops, "flops_ratio": m.flops_ratio,
            "target_ratio": m.target_ratio, "ratio_error": m.flops_ratio / m.target_ratio - 1,
            "within_tolerance": point.within_tolerance, "adjustment": m.adjustment.get("summary", ""),
            "proxy_resolution": small.resolution, "proxy_flops": small.macs(),
            "train_seconds": sum(u.get("seconds") or 0.0 for u in done)}


def summarise(source: GridSource, request: TransferRequest, budget: ProxyBudget, points: list[TransferPoint],
              ranking_1: Ranking, units: dict[str, dict], config: dict, proxy: Callable) -> dict[str, Any]:
    """transfer.json: both rankings of the chosen points, tau beside perfect transfer's, the verdict."""
    labels = [p.chosen.label for p in points]
    obs_phi = phi_observations(points, units, request.seeds)
    ranking_phi = rank(obs_phi, request.confidence, RESAMPLES)
    names_1 = [p.point for p in ranking_1.points if p.point in labels]  # phi = 1 order within the set
    names_phi = [p.point for p in ranking_phi.points]
    shared = [n for n in names_1 if n in obs_phi]
    winner = ranking_1.leader
    obs_1 = source.grid.observations
    agreement, against = answer(obs_1, ranking_1, obs_phi, ranking_phi, shared, request.confidence)
    outcome, sentence = verdict(winner, ranking_phi, request.phi, request.seeds, against, request.at)
    failed = [units[unit_key(p.key, k)] for p in points for k in range(request.seeds)
              if health.failed(units.get(unit_key(p.key, k)))]
    if failed:
        sentence += (f" {len(failed)} of {sum(unit_key(p.key, k) in units for p in points for k in range(request.seeds))}"
                     f" trainings at {request.at} failed to train ({failed[0].get('message') or 'diverged'}): their "
                     f"points are left out; run `scalesearch calibrate --baseline {source.space.name}` for a recipe "
                     "under which they train.")
    rows = [point_row(p, ranking_1, names_1, ranking_phi, names_phi, units, request.seeds, proxy) for p in points]
    grid_epochs = source.budget.epochs
    return {
        "kind": "transfer", "config": {**config, "seeds": request.seeds, "top": request.top,
                                       "confidence": request.confidence},
        "baseline": source.space.name, "phi": request.phi, "at": request.at, "fidelity": request.fidelity,
        "grid_dir": str(source.grid.run_dir),
        "grid": {"target": source.target, "tolerance": source.tolerance, "step": source.step,
                 "data": source.data, "base_resolution": source.base_resolution,
                 "points": len(obs_1), "outcome": source.grid.summary.get("outcome")},
        "budgets": {"phi1": {**source.budget.as_dict(), "note": "the grid's proxy budget"},
                    "phi": {**budget.as_dict(), "scale": request.budget_scale,
                            "note": (f"the grid's budget, epochs {grid_epochs} x {request.budget_scale:g}^"
                                     f"{phi_label(request.phi)} = {grid_epochs * request.budget_scale ** request.phi:g}"
                                     f" -> {budget.epochs}") if request.budget_scale != 1 else "the grid's proxy budget"}},
        "winner": {"label": winner, **{k: v for k, v in _side(ranking_phi, names_phi, winner, "phi").items()},
                   "best_or_tied": winner in ranking_phi.contenders if ranking_phi.noise.known else None,
                   "versus": [{"label": o, "minus": d.mean, "low": d.low, "high": d.high, "verdict": d.verdict}
                              for o, d in (against or {}).items()]},
        "tau": {**agreement.as_dict(), "labels": shared},
        "verdict": {"outcome": outcome, "sentence": sentence},
        "phi1_ranking": _ranking_summary(ranking_1), "phi_ranking": _ranking_summary(ranking_phi),
        "units": {"done": sum(len(v) for v in obs_phi.values()), "wanted": len(points) * request.seeds},
        "shapes": {"cost": "deployment (the space's resolution x r, 3 channels, 1000 classes)",
                   "accuracy": f"proxy ({source.data}, base {source.base_resolution} px x r), validation split"},
        "points": rows,
    }


# -- the whole command, edge to edge ------------------------------------------------------

class TransferEvents:
    """What a front end hears while a transfer runs (the CLI draws progress from these)."""

    def grown(self, point: TransferPoint) -> None: ...

    def planned(self, points: list[TransferPoint], todo: list[tuple[TransferPoint, int]], finished: int,
                estimates: dict[str, float]) -> None: ...

    def unit_started(self, point: TransferPoint, seed_index: int) -> None: ...

    def unit_done(self, point: TransferPoint, seed_index: int, record: dict) -> None: ...

    def note(self, text: str) -> None:
        """Something worth a line that is not an error (the grid's recipe was never calibrated)."""


def default_out(space: SearchSpace, phi: float, budget_scale: float = 1.0) -> Path:
    if phi == 1:
        return default_run_dir("fidelity", space.name, f"x{budget_scale:g}")
    return default_run_dir("transfer", space.name, f"phi{phi_label(phi)}")


def run_transfer(request: TransferRequest, events: TransferEvents | None = None,
                 train_one: Callable[[TransferSetup, TransferPoint, int], dict] | None = None) -> dict[str, Any]:
    """Read the grid, choose and grow the points, train what `out` lacks, write the answer.

    `train_one(setup, point, seed_index)` defaults to `train_unit` (looked up at call time,
    so tests can swap in a fake trainer)."""
    events = events or TransferEvents()
    train_one = train_one or train_unit
    source = GridSource.read(Path(request.from_dir))
    if request.placement.data_dir is not None:  # the grid's data, in this host's folder
        source = replace(source, data_dir=request.placement.data_dir)
    budget = phi_budget(source.budget, request.phi, request.budget_scale)
    out = Path(request.out or default_out(source.space, request.phi, request.budget_scale))
    config = {"baseline": source.space.name, "grid": source.fingerprint(), "phi": request.phi,
              "budget_scale": request.budget_scale, "budget": budget.as_dict()}
    device = str(resolve_device(request.placement.device))
    # Data first: a missing dataset should fail in a second, not after the solving.
    data = _data_source(source, budget).load(budget.seed)
    ranking_1 = rank(source.grid.observations, request.confidence, RESAMPLES)
    points = []
    chosen_points = (fidelity_points(ranking_1, source.grid.coefficients, request.top) if request.fidelity else
                     choose_points(ranking_1, source.grid.coefficients, request.top, source.step, source.tolerance))
    for chosen in chosen_points:
        points.append(grow(source, chosen, request.phi))
        events.grown(points[-1])
    # Claimed only now that every option, the data and every grown point have passed.
    info = claim_run_dir(out, RunInfo(kind="transfer", baseline=source.space.name, space=source.space.identity,
                                      request=request.as_dict(), results=RESULTS, command=request.command,
                                      identity=config))
    recorded = source.grid.request.get("proxy")  # the grid's --proxy FILE, as values
    if line := uncalibrated(source.space.proxy, BudgetChoice(proxy=recorded if isinstance(recorded, dict) else None),
                            source.space.name):
        events.note(line)
    setup = TransferSetup(source, data, budget, device, request.placement.threads)
    todo = pending_units(points, request.seeds, read_units(out))
    events.planned(points, todo, len(points) * request.seeds - len(todo), estimates(setup, todo))
    train_units(out, todo, lambda point, k: train_one(setup, point, k), events)
    document = summarise(source, request, budget, points, ranking_1, read_units(out), config, setup.proxy)
    document["out"] = str(out)
    write_transfer(out, document)
    finish_run(out, info)
    return document
