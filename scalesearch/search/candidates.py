"""The phi = 1 candidates of a grid search, with the cost constraint kept twice.

Two promises, for every candidate:

- **The law.**  Its coefficients satisfy alpha * beta^2 * gamma^2 = target within
  `tolerance` (2% by default), so the family it grows, d, w, r = (alpha, beta, gamma)^phi,
  costs about target^phi x the baseline at every phi.
- **A fair comparison.**  It is trained at phi = 1 as a network whose *measured* cost
  (multiply-adds by default) is target x the baseline's, within the same tolerance, so
  accuracies compare like with like.

Rounding breaks the second when only the first is kept: with ceil-per-stage depth, any
alpha > 1 adds a block to every one-block stage.  Bending alpha until the measured ratio
is the target breaks the first instead.  So every point's phi = 1 network is landed by the
one landing rule (`measure.landing.land`): moved along its own coefficients,
(alpha, beta, gamma)^t, to the t whose measured cost is on target, with resolution (then
width) filling a gap no t reaches.  It is exactly the phi = 1 member `expand` emits for
the same coefficients and target, so a grid accuracy is the accuracy of the family's own
member; its d, w, r and t are recorded with the candidate.  Two grid shapes:

- `2d` (default): beta, gamma on a grid from 1 (upward for a target above 1, downward to
  `low` for a target below 1, a down-scaling search); alpha = target / (beta^2 gamma^2),
  kept where it is on the same side of 1 (and, scaling down, not below `low`).
- `3d`: the paper-style grid over alpha, beta, gamma in [low, high] with the nominal
  product within the band.

A candidate whose landed network still misses the band is infeasible: recorded with
both ratios, never trained.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from scalesearch.errors import UserError
from scalesearch.costs.landing import land
from scalesearch.costs.meter import Meter
from scalesearch.costs.variant import Variant
from scalesearch.spec.scaling import Coefficients, grid_2d, grid_3d
from scalesearch.spec.spaces import SearchSpace

DOWN_LOW = 0.5  # a down-scaling grid's default floor: coefficients in [0.5, 1]
MAX_POINTS = 2000  # a grid this large is a typo (step 1e-9), not a search
# A phi = 1 cost multiple within 5 % of 1 puts only the baseline itself on the law (the smallest
# grid step, 0.05, moves the product by 10 %); beyond 1,000x (or below 1/1,000) the landed
# networks' sizes overflow the measurements long before anything could train.
TARGET_GAP = 0.05
TARGET_RANGE = (1e-3, 1e3)


@dataclass(frozen=True)
class GridSpec:
    """What to search: grid shape, step, range, target product and its (relative) tolerance."""

    shape: str = "2d"
    step: float = 0.1
    low: float | None = None  # None: 1 scaling up, DOWN_LOW scaling down
    high: float | None = None  # None: 2 scaling up, 1 scaling down
    target: float = 2.0  # above 1 scales up; below 1 (coefficients <= 1) scales down
    tolerance: float = 0.02  # relative: the law and the measured phi = 1 cost within +-2%
    cost: str = "flops"  # what the phi = 1 network is landed on: a cost of costs/kinds.py
    latency_threads: int = 1
    latency_batch: int = 1
    latency_device: str = ""  # where latency is timed: cpu or cuda; "" = the device that trains
    targets: tuple[float, ...] = ()  # a range of cost multiples (a Pareto search); () = `target` alone

    def __post_init__(self) -> None:
        if self.shape not in ("2d", "3d"):
            raise UserError(f"{{grid_shape}} must be 2d or 3d, got {self.shape!r}")
        for name in ("step", "target", "tolerance"):
            _check_positive(name, getattr(self, name))
        object.__setattr__(self, "targets", tuple(float(t) for t in self.targets))
        self._check_targets()
        down = self.down
        object.__setattr__(self, "low", float((DOWN_LOW if down else 1.0) if self.low is None else self.low))
        object.__setattr__(self, "high", float((1.0 if down else 2.0) if self.high is None else self.high))
        for name in ("low", "high"):
            _check_positive(name, getattr(self, name))
        self._check_range()
        Meter(self.cost, threads=self.latency_threads, batch=self.latency_batch)  # validates
        if self.tolerance >= 0.5:
            raise UserError(f"{{tolerance}} {self.tolerance} is relative (0.02 = +-2%); use a value below 0.5")
        per_axis = ((1.0 - self.low if down else self.high - 1.0) if self.shape == "2d"
                    else self.high - self.low) / self.step + 1
        points = per_axis ** (2 if self.shape == "2d" else 3) * max(1, len(self.targets))
        if points > MAX_POINTS:
            raise UserError(f"the grid would have about {points:,.0f} points (more than {MAX_POINTS:,}); "
                            "use a coarser {step} or a narrower {low}..{high}")
        # An empty grid is refused here, before any run folder is claimed or any cost measured.
        if not any(_points(self, t) for t in self.targets or (self.target,)):
            raise UserError(_empty_message(self, []))

    @property
    def down(self) -> bool:
        """A down-scaling search: cost multiples below 1, coefficients <= 1."""
        return (self.targets[0] if self.targets else self.target) < 1

    def _check_targets(self) -> None:
        for target in self.targets or (self.target,):
            if not (TARGET_RANGE[0] <= target <= 1 / (1 + TARGET_GAP) or 1 + TARGET_GAP <= target <= TARGET_RANGE[1]):
                raise UserError(f"{{target}} {target}: the phi = 1 cost multiple must be at least {1 + TARGET_GAP:g} "
                                f"(scale up, at most {TARGET_RANGE[1]:g}) or at most {1 / (1 + TARGET_GAP):.3g} "
                                f"(scale down, at least {TARGET_RANGE[0]:g}); within {TARGET_GAP:.0%} of 1 "
                                "only the baseline itself is on the law")
        if not self.targets:
            return
        if any(not math.isfinite(t) or t <= 0 or t == 1 for t in self.targets) or \
                len({t > 1 for t in self.targets}) > 1:
            raise UserError(f"{{targets}} {','.join(map(str, self.targets))}: every cost multiple must be "
                            "above 1 (or every one below 1, scaling down)")

    def _check_range(self) -> None:
        if self.high < self.low:
            raise UserError(f"{{high}} {self.high} is below {{low}} {self.low}")
        if self.down and self.high > 1:
            raise UserError(f"{{high}} {self.high}: a down-scaling grid (cost multiple below 1) keeps "
                            "coefficients <= 1; use {high} <= 1")
        if self.down and self.low >= 1:
            raise UserError(f"{{low}} {self.low}: a down-scaling grid (cost multiple below 1) needs "
                            "{low} below 1 (default 0.5)")
        if not self.down and self.low < 1:
            raise UserError(f"{{low}} {self.low}: coefficients below 1 shrink the network; use {{low}} >= 1 "
                            "(or a {target} below 1 to scale down)")

    @classmethod
    def from_space(cls, space: SearchSpace, **overrides: Any) -> "GridSpec":
        values = {**space.grid, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(**values)

    def within(self, ratio: float, tolerance: float | None = None) -> bool:
        return abs(ratio / self.target - 1) <= (self.tolerance if tolerance is None else tolerance) + 1e-12

    def meter(self, device: str = "cpu") -> Meter:
        return Meter(self.cost, self.latency_device or device, self.latency_threads, self.latency_batch)


@dataclass(frozen=True)
class Candidate:
    """One point: its coefficients, and the phi = 1 network that is trained for it."""

    index: int
    role: str  # "baseline" (the phi = 0 reference) or "candidate"
    alpha: float
    beta: float
    gamma: float
    nominal_ratio: float  # alpha * beta^2 * gamma^2: the family's growth per phi
    raw_ratio: float  # the chosen cost of (alpha, beta, gamma) rounded, before the correction
    measured_ratio: float  # the chosen cost of the trained phi = 1 network / the baseline's (deployment shape)
    flops: int
    feasible: bool
    depth: float = 1.0  # the trained phi = 1 network: d, w, r (r from its landed pixels)
    width: float = 1.0
    resolution_mult: float = 1.0
    resolution: int = 0  # its pixels at the deployment shape
    correction: str = ""  # how it landed: "t = 0.71" (and any fallback); "" = at t = 1 as rounded
    note: str = ""
    cost: str = "flops"  # the cost `raw_ratio` and `measured_ratio` are in
    flops_ratio: float = 1.0  # every cost of the trained network / the baseline's, side by side
    params_ratio: float = 1.0
    activations_ratio: float = 1.0
    latency_ratio: float | None = None  # measured only when the cost is latency
    latency_ms: float | None = None
    latency_spread: float | None = None
    target: float = 2.0  # the cost multiple this point's phi = 1 network lands on
    t: float = 1.0  # the exponent it was landed at: (d, w, r) = (alpha, beta, gamma)^t before any fallback
    # Its dropout: the space's grown dropout at phi = 1, as expand's member has it; None
    # keeps the baseline's (the reference, and candidates a study stored before this field).
    dropout: float | None = None

    @property
    def coefficients(self) -> Coefficients:
        return Coefficients(self.alpha, self.beta, self.gamma)

    def variant(self, space: SearchSpace) -> Variant:
        """The phi = 1 network this candidate trains (deployment shape)."""
        return Variant(space, self.depth, self.width, self.resolution_mult, resolution=self.resolution,
                       dropout=self.dropout)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_candidates(space: SearchSpace, grid: GridSpec, device: str = "cpu") -> list[Candidate]:
    """The baseline reference first, then every grid point with its landed phi = 1 network."""
    baseline = Variant(space)
    base = baseline.macs()
    meter = grid.meter(device)
    reference = _Reference(baseline, meter)
    out = [Candidate(0, "baseline", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, base, True,
                     resolution=baseline.resolution, note="phi = 0 reference", cost=grid.cost,
                     target=1.0, **reference.ratios(baseline))]
    for target in grid.targets or (grid.target,):
        at = replace(grid, target=target, targets=())
        for point in grid_points(at):
            out.append(_candidate(space, reference, point, at, len(out)))
    if not any(c.feasible for c in out[1:]):
        raise UserError(_empty_message(grid, out[1:]))
    return out


def grid_points(grid: GridSpec) -> list[Coefficients]:
    """The grid's coefficients for its one target (spec/scaling.py's grids)."""
    return _points(grid, grid.target)


def _points(grid: GridSpec, target: float) -> list[Coefficients]:
    if grid.shape == "2d":
        return grid_2d(grid.step, target, grid.low if grid.down else grid.high, band=grid.tolerance)
    return grid_3d(grid.low, grid.high, grid.step, target, grid.tolerance * target)


class _Reference:
    """The baseline's costs, which every candidate's are divided by."""

    def __init__(self, baseline: Variant, meter: Meter):
        self.meter, self.cost = meter, baseline.fast_cost()
        self.chosen = meter(baseline)
        self.spread = meter.spread(baseline)
        self.latency = meter.latency(baseline) if meter.cost == "latency" else None

    def ratios(self, variant: Variant) -> dict:
        cost = variant.fast_cost()
        out = {"flops_ratio": cost.flops / self.cost.flops, "params_ratio": cost.params / self.cost.params,
               "activations_ratio": cost.activations / self.cost.activations}
        if self.latency is not None:
            latency = self.meter.latency(variant)
            out.update(latency_ratio=latency.ms / self.latency.ms, latency_ms=latency.ms,
                       latency_spread=latency.spread)
        return out


def _candidate(space: SearchSpace, reference: _Reference, c: Coefficients, grid: GridSpec,
               index: int) -> Candidate:
    meter = reference.meter
    raw = meter(Variant(space, c.alpha, c.beta, c.gamma))
    # The family's own phi = 1 member: what `expand --from` this grid emits for c.
    landing = land(Variant(space), c, 1.0, grid.target, meter=meter, tolerance=grid.tolerance,
                   base=reference.chosen)
    trained = landing.variant
    ratio = meter(trained) / reference.chosen
    # A timed cost is only known to within its spread: the band is at least that wide.
    spread = meter.spread(trained) + reference.spread
    tolerance = max(grid.tolerance, spread)
    feasible = grid.within(c.product) and grid.within(ratio, tolerance)
    note = "" if feasible else (
        "nominal product outside tolerance" if not grid.within(c.product)
        else "no landing within tolerance (along t, then resolution and width)")
    if feasible and spread and not grid.within(ratio * (1 + spread), grid.tolerance) or \
            feasible and spread and not grid.within(ratio * (1 - spread), grid.tolerance):
        note = f"its latency interval (±{spread:.1%}) straddles the ±{grid.tolerance:.0%} band"
    moved = landing.t != 1.0 or landing.adjustment
    return Candidate(index, "candidate", c.alpha, c.beta, c.gamma, c.product, raw / reference.chosen, ratio,
                     trained.macs(), feasible, depth=trained.depth, width=trained.width,
                     resolution_mult=trained.resolution / space.resolution, resolution=trained.resolution,
                     correction=landing.summary if moved else "", note=note, cost=grid.cost,
                     target=grid.target, t=landing.t, dropout=space.dropout_at(1.0), **reference.ratios(trained))


def _empty_message(grid: GridSpec, points: list[Candidate]) -> str:
    if not points:
        return (f"the grid is empty: no point in [{grid.low}, {grid.high}] step {grid.step} "
                f"has a nominal product within {grid.tolerance:.0%} of {grid.target}; "
                "relax {tolerance} or widen " + ("{low}" if grid.down else "{high}"))
    closest = min(points, key=lambda c: abs(c.measured_ratio - grid.target))
    return (f"no candidate is feasible: the closest measured cost ratio is "
            f"{closest.measured_ratio:.3f} (target {grid.target} +/- {grid.tolerance:.0%}); "
            "relax {tolerance} or use a finer {step}")


def _check_positive(name: str, value: Any) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise UserError(f"{{{name}}} must be a positive number, got {value!r}")
