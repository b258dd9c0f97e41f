"""Landing a variant on a cost: move its finest knobs until the measured cost is on target.

Rounding (channels to multiples of 8, repeats by ceil, integer pixels) makes cost a
step function of every multiplier, so "2x the baseline" is found by measuring, not by a
formula.  The fast analytic counter (`Variant.macs`) drives the search; callers confirm
the result with fvcore.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable

from scalesearch.measure.variant import Variant

EXACT_TOLERANCE = 0.03  # the +-3% band of `expand --exact-flops`


def match_flops(variant: Variant, target: float,
                tolerance: float = EXACT_TOLERANCE) -> tuple[Variant, dict[str, Any]]:
    """Move resolution (then width) so the fast MAC count lands within tolerance of target.

    Resolution first because it is the finest knob; but feature maps are ceil(px / 2^k),
    so FLOPs step up every 32 px (ResNet: ~4-6% at once) and some targets fall in a gap
    that only a small width change (8 channels per stage) can fill.  Depth moves in
    whole blocks and is left alone.  Returns the variant unchanged with an empty
    adjustment when it already lands inside.
    """
    before = variant.macs()
    if _off(before, target) <= tolerance:
        return variant, {}
    best = _match_resolution(variant, target, tolerance)
    if _off(best.macs(), target) > tolerance:
        # The target sits in a resolution step: fill it with width, from the nearest
        # resolution first and from a few pixels either side only if that fails too.
        tries = [best, _match_width(best, target, tolerance)]
        for shift in (-4, 4):
            if _off(tries[-1].macs(), target) <= tolerance:
                break
            tries.append(_match_width(_pixel_variant(best, best.resolution + shift), target, tolerance))
        best = min(tries, key=lambda v: _off(v.macs(), target))
    error = best.macs() / target - 1
    changes = []
    if best.resolution != variant.resolution:
        changes.append(f"resolution {variant.resolution} → {best.resolution} px")
    if best.width != variant.width:
        changes.append(f"width {variant.width:.4g} → {best.width:.4g}")
    summary = ", ".join(changes) or "no change"
    if abs(error) > tolerance:
        summary += f" (closest reachable: {error:+.1%} off target)"
    return best, {"summary": summary, "from_resolution": variant.resolution,
                  "from_width": variant.width, "flops_before": before,
                  "target_flops": int(round(target)), "error": error}


def _off(value: float, target: float) -> float:
    return abs(value / target - 1)


def _power_search(make: Callable[[float], Variant], start: float, exponent: float, target: float,
                  tolerance: float, steps: int = 6) -> Variant:
    """Secant-like steps assuming FLOPs ~ knob^exponent; keeps the closest point seen.

    count_macs costs about a second per new spec on two busy cores, so a model-guided
    step (usually 1-3 evaluations) beats bisecting a wide bracket (7-10).
    """
    knob, seen = start, {}
    best = make(knob)
    for _ in range(steps):
        candidate = make(knob)
        value = candidate.macs()
        if _off(value, target) < _off(best.macs(), target):
            best = candidate
        if _off(value, target) <= tolerance or candidate in seen:
            break
        seen[candidate] = value
        knob *= (target / value) ** (1 / exponent)
    return best


def _pixel_variant(variant: Variant, pixels: float) -> Variant:
    minimum = variant.spec.total_stride if variant.spec is not None else 8
    return replace(variant, resolution=max(int(round(pixels)), minimum))


def _match_resolution(variant: Variant, target: float, tolerance: float) -> Variant:
    # Aim at half the band: a pixel step is cheap, and members then sit well inside it.
    return _power_search(lambda px: _pixel_variant(variant, px), variant.resolution, 2.0,
                         target, tolerance / 2)


def _match_width(variant: Variant, target: float, tolerance: float) -> Variant:
    return _power_search(lambda w: replace(variant, width=w), variant.width, 2.0, target, tolerance / 2)


