"""Landing a variant on a cost: move its finest knobs until the measured cost is on target.

Rounding (channels to multiples of 8, repeats by ceil, integer pixels) makes cost a
step function of every multiplier, so "2x the baseline" is found by measuring, not by a
formula.  The fast analytic counter (`Variant.macs`) drives the search; callers confirm
the result with fvcore.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

from scalesearch.costs.variant import Variant

EXACT_TOLERANCE = 0.03  # the +-3% band of `expand --exact-flops`


def solve_knob(cost: Callable[[float], float], target: float, guess: float, slope: float, *,
               tolerance: float = 0.01, iterations: int = 40) -> tuple[float, float]:
    """(x, cost(x)) with cost(x) as close to `target` as found; cost monotonic in x.

    `slope` is the nominal d(log cost)/dx.  Newton steps in log-cost space with that slope
    land within a percent or two in a few counts; rounding makes cost a staircase, across
    whose steps Newton can oscillate, so after a few steps it bisects the bracket it has
    seen.  Stops once within `tolerance`.  A negative slope (cost falling as x grows, as
    along coefficients below 1) is solved in -x.
    """
    if slope < 0:
        x, value = solve_knob(lambda y: cost(-y), target, -guess, -slope, tolerance=tolerance,
                              iterations=iterations)
        return -x, value
    x, best_x, best_err = guess, guess, math.inf
    low = high = None  # x with cost below / at-or-above the target
    for step in range(iterations):
        value = cost(x)
        err = abs(value / target - 1)
        if err < best_err:
            best_x, best_err = x, err
        if err <= tolerance:
            break
        if value < target:
            low = x if low is None else max(low, x)
        else:
            high = x if high is None else min(high, x)
        if low is not None and high is not None and (step >= 4 or high - low < 1e-9):
            if high - low < 1e-9:
                break
            x = (low + high) / 2
        else:
            x = x + math.log(target / max(value, 1e-12)) / slope
    return best_x, cost(best_x)


def shortest(x: float, cost: Callable[[float], float], target: float,
             tolerance: float = 0.01) -> tuple[float, float]:
    """The shortest number (2, 3, 4 decimals) near `x` whose cost is as close to `target`
    (or within `tolerance`): phi = 1.42 reads better than 1.4213 and rounds the same."""
    value = cost(x)
    err = abs(value / target - 1)
    for digits in (2, 3, 4):
        short = round(x, digits)
        if short > 0 and abs((short_value := cost(short)) / target - 1) <= max(err, tolerance) + 1e-12:
            return short, short_value
    return x, value


def match_flops(variant: Variant, target: float,
                tolerance: float = EXACT_TOLERANCE) -> tuple[Variant, dict[str, Any]]:
    """`match_cost` on multiply-adds (the paper's FLOPs)."""
    return match_cost(variant, target, tolerance)


def match_cost(variant: Variant, target: float, tolerance: float = EXACT_TOLERANCE,
               meter: Callable[[Variant], float] | None = None) -> tuple[Variant, dict[str, Any]]:
    """Move resolution (then width) until `meter(variant)` lands within tolerance of target.

    Resolution first because it is the finest knob; but feature maps are ceil(px / 2^k),
    so FLOPs step up every 32 px (ResNet: ~4-6% at once) and some targets fall in a gap
    that only a small width change (8 channels per stage) can fill.  Depth moves in
    whole blocks and is left alone; a meter that resolution does not move (params) goes
    straight to width.  Returns the variant unchanged with an empty adjustment when it
    already lands inside.  `meter` defaults to the analytic multiply-add count.
    """
    measure = meter or Variant.macs
    knobs = getattr(meter, "knobs", ("resolution", "width"))
    before = measure(variant)
    if _off(before, target) <= tolerance:
        return variant, {}
    best = variant
    if "resolution" in knobs:
        best = _power_search(lambda px: _pixel_variant(variant, px), variant.resolution, 2.0, target,
                             tolerance / 2, measure)  # aim at half the band: members sit well inside
    if _off(measure(best), target) > tolerance:
        # The target sits in a resolution step: fill it with width, from the nearest
        # resolution first and from a few pixels either side only if that fails too.
        tries = [best, _match_width(best, target, tolerance, measure)]
        for shift in ((-4, 4) if "resolution" in knobs else ()):
            if _off(measure(tries[-1]), target) <= tolerance:
                break
            tries.append(_match_width(_pixel_variant(best, best.resolution + shift), target, tolerance, measure))
        best = min(tries, key=lambda v: _off(measure(v), target))
    error = measure(best) / target - 1
    changes = []
    if best.resolution != variant.resolution:
        changes.append(f"resolution {variant.resolution} → {best.resolution} px")
    if best.width != variant.width:
        changes.append(f"width {variant.width:.4g} → {best.width:.4g}")
    summary = ", ".join(changes) or "no change"
    if abs(error) > tolerance:
        summary += f" (closest reachable: {error:+.1%} off target)"
    return best, {"summary": summary, "from_resolution": variant.resolution,
                  "from_width": variant.width, "cost_before": before,
                  "target_cost": target, "error": error}


def _off(value: float, target: float) -> float:
    return abs(value / target - 1)


def _power_search(make: Callable[[float], Variant], start: float, exponent: float, target: float,
                  tolerance: float, measure: Callable[[Variant], float], steps: int = 6) -> Variant:
    """Secant-like steps assuming cost ~ knob^exponent; keeps the closest point seen.

    A model-guided step (usually 1-3 evaluations) beats bisecting a wide bracket (7-10),
    and with a timed cost every evaluation is a measurement.
    """
    knob, seen = start, {}
    best = make(knob)
    for _ in range(steps):
        candidate = make(knob)
        value = measure(candidate)
        if _off(value, target) < _off(measure(best), target):
            best = candidate
        if _off(value, target) <= tolerance or candidate in seen:
            break
        seen[candidate] = value
        knob *= (target / value) ** (1 / exponent)
    return best


def _pixel_variant(variant: Variant, pixels: float) -> Variant:
    """`variant` at `pixels` (deployment shape); its r follows, so its proxy shape does too."""
    minimum = variant.spec.total_stride if variant.spec is not None else 8  # deployment: a full stride
    px = max(int(round(pixels)), minimum)
    return replace(variant, resolution=px, resolution_mult=px / variant.space.resolution)


def _match_width(variant: Variant, target: float, tolerance: float, measure) -> Variant:
    return _power_search(lambda w: replace(variant, width=w), variant.width, 2.0, target, tolerance / 2, measure)
