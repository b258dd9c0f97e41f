"""The phi = 1 candidates of a grid search, with the FLOP constraint checked twice.

Rounding makes nominal and measured FLOPs differ a lot: with ceil-per-stage depth, any
alpha > 1 adds a block to every stage with one block, so a nominal alpha = 1.02 can cost
+50%.  Two grid shapes:

- `2d` (default): beta, gamma on a grid from 1; alpha is *solved on measured FLOPs*
  (smallest 0.01 step whose measured ratio is closest to the target).  Every candidate
  then really costs ~target x the baseline, so accuracies compare like with like.
  A (beta, gamma) pair for which no alpha >= 1 lands within tolerance is infeasible.
- `3d`: the paper-style grid over alpha, beta, gamma in [low, high] with the nominal
  product within tolerance; candidates whose measured ratio is outside it are infeasible.

Infeasible candidates are recorded (with both ratios) and never trained.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from scalesearch.errors import UserError
from scalesearch.spec.scaling import Coefficients, grid_2d, grid_3d
from scalesearch.spec.spaces import SearchSpace
from scalesearch.measure.variant import Variant

ALPHA_STEP = 0.01


@dataclass(frozen=True)
class GridSpec:
    """What to search: grid shape, step, range, target product and its tolerance."""

    shape: str = "2d"
    step: float = 0.1
    low: float = 1.0
    high: float = 2.0
    target: float = 2.0
    tolerance: float = 0.1

    def __post_init__(self) -> None:
        if self.shape not in ("2d", "3d"):
            raise UserError(f"{{grid}} must be 2d or 3d, got {self.shape!r}")
        for name in ("step", "low", "high", "target", "tolerance"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise UserError(f"--{name} must be a positive number, got {value!r}")
        if self.low < 1:
            raise UserError(f"{{low}} {self.low}: coefficients below 1 shrink the network; use {{low}} >= 1")
        if self.high < self.low:
            raise UserError(f"{{high}} {self.high} is below {{low}} {self.low}")
        if self.target <= 1:
            raise UserError(f"{{target}} {self.target}: the phi = 1 FLOP multiple must be > 1")

    @classmethod
    def from_space(cls, space: SearchSpace, **overrides: Any) -> "GridSpec":
        values = {**space.grid, **{k: v for k, v in overrides.items() if v is not None}}
        return cls(**values)


@dataclass(frozen=True)
class Candidate:
    index: int
    role: str  # "baseline" (the phi = 0 reference) or "candidate"
    alpha: float
    beta: float
    gamma: float
    nominal_ratio: float  # alpha * beta^2 * gamma^2
    measured_ratio: float  # FLOPs(phi=1) / FLOPs(baseline), deployment shape
    flops: int
    feasible: bool
    note: str = ""

    @property
    def coefficients(self) -> Coefficients:
        return Coefficients(self.alpha, self.beta, self.gamma)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_candidates(space: SearchSpace, grid: GridSpec) -> list[Candidate]:
    """The baseline reference first, then every grid point with its measured ratio."""
    base = Variant(space).macs()
    out = [Candidate(0, "baseline", 1.0, 1.0, 1.0, 1.0, 1.0, base, True, "phi = 0 reference")]
    if grid.shape == "2d":
        pairs = sorted({(p.beta, p.gamma) for p in grid_2d(grid.step, grid.target, grid.high)})
        for beta, gamma in pairs:
            out.append(_solve_alpha(space, base, beta, gamma, grid, len(out)))
    else:
        for point in grid_3d(grid.low, grid.high, grid.step, grid.target, grid.tolerance):
            flops = Variant(space, point.alpha, point.beta, point.gamma).macs()
            ratio = flops / base
            feasible = abs(ratio - grid.target) <= grid.tolerance
            out.append(Candidate(len(out), "candidate", point.alpha, point.beta, point.gamma,
                                 point.product, ratio, flops, feasible,
                                 "" if feasible else "measured ratio outside tolerance"))
    if not any(c.feasible for c in out[1:]):
        raise UserError(_empty_message(grid, out[1:]))
    return out


def _solve_alpha(space: SearchSpace, base: int, beta: float, gamma: float, grid: GridSpec,
                 index: int) -> Candidate:
    """Smallest alpha on the 0.01 grid whose measured ratio is closest to the target."""
    def ratio(steps: int) -> tuple[float, int]:
        flops = Variant(space, 1.0 + steps * ALPHA_STEP, beta, gamma).macs()
        return flops / base, flops

    # Measured FLOPs grow with alpha: bisect for the first step at or above the target.
    top = max(1, math.ceil((grid.target / (beta * beta * gamma * gamma) * 2 - 1) / ALPHA_STEP))
    lo, hi = 0, top
    if ratio(hi)[0] < grid.target:
        lo = hi
    while lo < hi:
        mid = (lo + hi) // 2
        if ratio(mid)[0] >= grid.target:
            hi = mid
        else:
            lo = mid + 1
    options = [s for s in (lo - 1, lo) if 0 <= s <= top]
    steps = min(options, key=lambda s: (abs(ratio(s)[0] - grid.target), s))
    measured, flops = ratio(steps)
    alpha = round(1.0 + steps * ALPHA_STEP, 6)
    feasible = abs(measured - grid.target) <= grid.tolerance
    note = "" if feasible else (
        "even alpha = 1 exceeds the target" if steps == 0 and measured > grid.target
        else "no alpha lands within tolerance (depth rounding steps too coarse)")
    return Candidate(index, "candidate", alpha, beta, gamma, alpha * beta**2 * gamma**2,
                     measured, flops, feasible, note)


def _empty_message(grid: GridSpec, points: list[Candidate]) -> str:
    if not points:
        return (f"the grid is empty: no point in [{grid.low}, {grid.high}] step {grid.step} "
                f"has a nominal product within {grid.tolerance} of {grid.target}; "
                "relax {tolerance} or widen {high}")
    closest = min(points, key=lambda c: abs(c.measured_ratio - grid.target))
    return (f"no candidate is feasible: the closest measured FLOP ratio is "
            f"{closest.measured_ratio:.3f} (target {grid.target} +/- {grid.tolerance}); "
            "relax {tolerance} or use a finer {step}")
