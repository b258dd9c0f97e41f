"""The phi = 1 candidates of a grid search, with the cost constraint kept twice.

Two promises, for every candidate:

- **The law.**  Its coefficients satisfy alpha * beta^2 * gamma^2 = target within
  `tolerance` (2% by default), so the family it grows, d, w, r = (alpha, beta, gamma)^phi,
  costs about target^phi x the baseline at every phi.
- **A fair comparison.**  It is trained at phi = 1 as a network whose *measured*
  multiply-adds are target x the baseline's, within the same tolerance, so accuracies
  compare like with like.

Rounding breaks the second when only the first is kept: with ceil-per-stage depth, any
alpha > 1 adds a block to every one-block stage, so a nominal alpha of 1.02 can cost 1.5x
at phi = 1.  Bending alpha until the measured ratio is 2 breaks the first instead (a
product of 1.6 grows the family 1.6x per phi).  So the rounding is corrected on the
built phi = 1 network, not in the coefficients: after rounding, its resolution (then,
where a resolution step is too coarse, its width) moves until the measured cost lands
(`measure.match.match_flops`); the correction is recorded with the candidate.  Two grid
shapes:

- `2d` (default): beta, gamma on a grid from 1; alpha = target / (beta^2 gamma^2).  Within
  the law's band alpha may take the 0.01 step whose rounded network is closest to the
  target before any correction (alpha 1.0 instead of 1.02 keeps one-block stages at one
  block), so corrections stay small.
- `3d`: the paper-style grid over alpha, beta, gamma in [low, high] with the nominal
  product within the band.

A candidate whose corrected network still misses the band is infeasible: recorded with
both ratios, never trained.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from scalesearch.errors import UserError
from scalesearch.measure.match import match_cost
from scalesearch.measure.meter import Meter
from scalesearch.measure.variant import Variant
from scalesearch.spec.scaling import Coefficients, grid_2d, grid_3d
from scalesearch.spec.spaces import SearchSpace

ALPHA_STEP = 0.01
MAX_POINTS = 2000  # a grid this large is a typo (step 1e-9), not a search


@dataclass(frozen=True)
class GridSpec:
    """What to search: grid shape, step, range, target product and its (relative) tolerance."""

    shape: str = "2d"
    step: float = 0.1
    low: float = 1.0
    high: float = 2.0
    target: float = 2.0
    tolerance: float = 0.02  # relative: the law and the measured phi = 1 cost within +-2%
    cost: str = "flops"  # what the phi = 1 network is landed on: flops | params | activations | latency
    latency_threads: int = 1
    latency_batch: int = 1
    latency_device: str = ""  # where latency is timed: cpu or cuda; "" = the device that trains
    targets: tuple[float, ...] = ()  # a range of cost multiples (a Pareto search); () = `target` alone

    def __post_init__(self) -> None:
        if self.shape not in ("2d", "3d"):
            raise UserError(f"{{grid_shape}} must be 2d or 3d, got {self.shape!r}")
        for name in ("step", "low", "high", "target", "tolerance"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserError(f"{{{name}}} must be a positive number, got {value!r}")
        if self.low < 1:
            raise UserError(f"{{low}} {self.low}: coefficients below 1 shrink the network; use {{low}} >= 1")
        if self.high < self.low:
            raise UserError(f"{{high}} {self.high} is below {{low}} {self.low}")
        if self.target <= 1:
            raise UserError(f"{{target}} {self.target}: the phi = 1 cost multiple must be > 1")
        object.__setattr__(self, "targets", tuple(float(t) for t in self.targets))
        if any(not math.isfinite(t) or t <= 1 for t in self.targets):
            raise UserError(f"{{targets}} {','.join(map(str, self.targets))}: every cost multiple must be > 1")
        Meter(self.cost, threads=self.latency_threads, batch=self.latency_batch)  # validates
        if self.tolerance >= 0.5:
            raise UserError(f"{{tolerance}} {self.tolerance} is relative (0.02 = +-2%); use a value below 0.5")
        per_axis = (self.high - self.low) / self.step + 1
        points = per_axis ** (2 if self.shape == "2d" else 3) * max(1, len(self.targets))
        if points > MAX_POINTS:
            raise UserError(f"the grid would have about {points:,.0f} points (more than {MAX_POINTS:,}); "
                            "use a coarser {step} or a narrower {low}..{high}")

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
    depth: float = 1.0  # the trained phi = 1 network: d, w, r (r from its corrected pixels)
    width: float = 1.0
    resolution_mult: float = 1.0
    resolution: int = 0  # its pixels at the deployment shape
    correction: str = ""  # what moved to land on the cost ("" = nothing)
    note: str = ""
    cost: str = "flops"  # the cost `raw_ratio` and `measured_ratio` are in
    flops_ratio: float = 1.0  # every cost of the trained network / the baseline's, side by side
    params_ratio: float = 1.0
    activations_ratio: float = 1.0
    latency_ratio: float | None = None  # measured only when the cost is latency
    latency_ms: float | None = None
    latency_spread: float | None = None
    target: float = 2.0  # the cost multiple this point's phi = 1 network lands on

    @property
    def coefficients(self) -> Coefficients:
        return Coefficients(self.alpha, self.beta, self.gamma)

    def variant(self, space: SearchSpace) -> Variant:
        """The phi = 1 network this candidate trains (deployment shape)."""
        return Variant(space, self.depth, self.width, self.resolution_mult, resolution=self.resolution)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_candidates(space: SearchSpace, grid: GridSpec, device: str = "cpu") -> list[Candidate]:
    """The baseline reference first, then every grid point with its corrected phi = 1 network."""
    baseline = Variant(space)
    base = baseline.macs()
    meter = grid.meter(device)
    reference = _Reference(baseline, meter)
    out = [Candidate(0, "baseline", 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, base, True,
                     resolution=baseline.resolution, note="phi = 0 reference", cost=grid.cost,
                     target=1.0, **reference.ratios(baseline))]
    for target in grid.targets or (grid.target,):
        at = replace(grid, target=target, targets=())
        if at.shape == "2d":
            for point in grid_2d(at.step, at.target, at.high):
                alpha = _least_rounded_alpha(space, base, point, at)
                out.append(_candidate(space, reference, Coefficients(alpha, point.beta, point.gamma), at, len(out)))
        else:
            for point in grid_3d(at.low, at.high, at.step, at.target, at.tolerance * at.target):
                out.append(_candidate(space, reference, point, at, len(out)))
    if not any(c.feasible for c in out[1:]):
        raise UserError(_empty_message(grid, out[1:]))
    return out


def _least_rounded_alpha(space: SearchSpace, base: int, point: Coefficients, grid: GridSpec) -> float:
    """alpha within the law's band whose rounded phi = 1 network is closest to the target.

    Ties (and the exact value's own distance) favour the exact alpha: it is only moved
    when that makes the rounding distortion smaller.
    """
    exact = point.alpha
    low, high = max(1.0, exact * (1 - grid.tolerance)), exact * (1 + grid.tolerance)
    steps = range(math.ceil((low - 1.0) / ALPHA_STEP - 1e-9), math.floor((high - 1.0) / ALPHA_STEP + 1e-9) + 1)
    options = [exact] + [round(1.0 + k * ALPHA_STEP, 6) for k in steps]

    def distortion(alpha: float) -> tuple[float, float]:
        ratio = Variant(space, alpha, point.beta, point.gamma).macs() / base
        return abs(ratio / grid.target - 1), abs(alpha - exact)

    return min(dict.fromkeys(options), key=distortion)


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
    rounded = Variant(space, c.alpha, c.beta, c.gamma)
    raw = meter(rounded)
    trained, adjustment = match_cost(rounded, grid.target * reference.chosen, grid.tolerance, meter)
    ratio = meter(trained) / reference.chosen
    # A timed cost is only known to within its spread: the band is at least that wide.
    spread = meter.spread(trained) + reference.spread
    tolerance = max(grid.tolerance, spread)
    feasible = grid.within(c.product) and grid.within(ratio, tolerance)
    note = "" if feasible else (
        "nominal product outside tolerance" if not grid.within(c.product)
        else "no correction lands within tolerance")
    if feasible and spread and not grid.within(ratio * (1 + spread), grid.tolerance) or \
            feasible and spread and not grid.within(ratio * (1 - spread), grid.tolerance):
        note = f"its latency interval (±{spread:.1%}) straddles the ±{grid.tolerance:.0%} band"
    return Candidate(index, "candidate", c.alpha, c.beta, c.gamma, c.product, raw / reference.chosen, ratio,
                     trained.macs(), feasible, depth=trained.depth, width=trained.width,
                     resolution_mult=trained.resolution / space.resolution, resolution=trained.resolution,
                     correction=adjustment.get("summary", ""), note=note, cost=grid.cost, target=grid.target,
                     **reference.ratios(trained))


def _empty_message(grid: GridSpec, points: list[Candidate]) -> str:
    if not points:
        return (f"the grid is empty: no point in [{grid.low}, {grid.high}] step {grid.step} "
                f"has a nominal product within {grid.tolerance:.0%} of {grid.target}; "
                "relax {tolerance} or widen {high}")
    closest = min(points, key=lambda c: abs(c.measured_ratio - grid.target))
    return (f"no candidate is feasible: the closest measured cost ratio is "
            f"{closest.measured_ratio:.3f} (target {grid.target} +/- {grid.tolerance:.0%}); "
            "relax {tolerance} or use a finer {step}")
