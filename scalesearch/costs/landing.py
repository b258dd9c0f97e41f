"""The one landing rule: a family member on its cost, moved along its own coefficients.

Every network that must hit a cost — a grid point's phi = 1 network, a family member of
`expand`, a transfer point, compare's compound row — is landed here, so the grid trains
exactly the phi = 1 member `expand` would emit for the same coefficients.

The rule: (d, w, r) = (alpha, beta, gamma)^t with t near phi, t chosen so the member's
measured cost (a `Meter`: FLOPs, params, activations or latency) is `target` x the
baseline's within `tolerance` (aiming at half of it).  Rounding makes cost a staircase in
t; the shortest t (2, 3, 4 decimals) that lands as well is kept, so 0.71 reads better than
0.7093.  Where a step jumps over the band (a block added to every stage at once), the
member's resolution, then width, fills the gap (`match.match_cost`): the fallback.

Coefficients below 1 (a down-scaling family, product < 1) work the same way: cost then
falls as t grows, which `solve_knob` handles by its slope's sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from scalesearch.costs.kinds import cost_kind
from scalesearch.costs.match import match_cost, shortest, solve_knob
from scalesearch.costs.meter import FLOPS, Meter
from scalesearch.costs.variant import Variant
from scalesearch.spec.scaling import Coefficients

LAND_TOLERANCE = 0.02  # the grid's default band: a landed member costs target x +-2%


@dataclass(frozen=True)
class Landing:
    """Where a member landed: its network, the exponent t, and what the fallback moved."""

    variant: Variant
    t: float
    adjustment: dict[str, Any] = field(default_factory=dict)  # match_cost's record; {} = t alone

    @property
    def summary(self) -> str:
        """One line for a table: the t it took, and any fallback."""
        moved = self.adjustment.get("summary", "")
        return f"t = {self.t:g}" + (f"; {moved}" if moved else "")


def cost_slope(coefficients: Coefficients, cost: str) -> float:
    """The nominal d(log cost)/dt along (alpha, beta, gamma)^t for one cost: its growth
    exponents of d, w, r (costs/kinds.py) against log alpha, log beta, log gamma."""
    logs = (math.log(x) for x in (coefficients.alpha, coefficients.beta, coefficients.gamma))
    return sum(exponent * log for exponent, log in zip(cost_kind(cost).growth, logs))


def land(variant: Variant, coefficients: Coefficients, phi: float, target: float, *,
         meter: Meter = FLOPS, tolerance: float = LAND_TOLERANCE, base: float | None = None) -> Landing:
    """Member phi of the coefficients' family landed on `target` x the baseline's cost.

    `variant` carries what is not scaled (shape, dropout); its d, w, r are replaced.
    `base` is the baseline's cost in `meter` at the deployment shape (measured when None).
    """
    base = meter(Variant(variant.space)) if base is None else base
    slope = cost_slope(coefficients, meter.cost)

    def moved(t: float) -> Variant:
        d, w, r = coefficients.multipliers(t)
        return replace(variant, depth=d, width=w, resolution_mult=r, resolution=0)

    def ratio(t: float) -> float:
        return meter(moved(t)) / base

    t, value = phi, ratio(phi)
    if abs(slope) > 1e-9 and abs(value / target - 1) > tolerance / 2:
        t, _ = solve_knob(ratio, target, phi, slope, tolerance=tolerance / 2)
        t, value = shortest(t, ratio, target, tolerance / 2)
    landed = moved(t)
    if abs(value / target - 1) <= tolerance:
        return Landing(landed, t)
    fallback, adjustment = match_cost(landed, target * base, tolerance, meter)
    return Landing(fallback, t, adjustment)
