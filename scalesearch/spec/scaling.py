"""Compound scaling as pure functions: coefficients, phi -> (d, w, r), rounding, grids.

Rounding rules are named functions, because they decide what a "2x FLOPs" network
really costs:

- `round_channels`: c*w to a multiple of the divisor, never below the divisor and never
  losing more than 10% of c*w (the EfficientNet reference rule; losing more than that
  would make small widths collapse).
- `round_repeats`: ceil(n*d) per stage (EfficientNet), or round (an alternative rule set
  selected by the space's `rules.depth_rounding`), never below 1.
- `round_resolution`: r*px to the nearest multiple of the space's divisor.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace
from typing import Any

from scalesearch.blocks import BLOCKS
from scalesearch.errors import UserError
from scalesearch.spec.netspec import NetSpec, StageSpec


class ScalingError(UserError):
    """A multiplier or coefficient that cannot scale a network."""


def check_multiplier(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ScalingError(f"--{name} must be a positive finite number, got {value}")
    return value


def round_channels(channels: float, divisor: int = 8) -> int:
    rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * channels:
        rounded += divisor
    return int(rounded)


def round_repeats(repeats: int, depth: float, rule: str = "ceil") -> int:
    scaled = repeats * depth
    # Guard against float noise such as 3 * 1.1 * (1/1.1) = 3.0000000000000004.
    scaled = round(scaled, 9)
    return max(1, math.ceil(scaled) if rule == "ceil" else int(round(scaled)))


def round_resolution(pixels: float, divisor: int = 1) -> int:
    return max(divisor, int(round(pixels / divisor)) * divisor)


def scale_stage(stage: StageSpec, depth: float, width: float, spec: NetSpec) -> StageSpec:
    """The stage at (d, w): repeats by the space's depth rule, channels by its kind's width
    rule (blocks/: most scale their output, a bottleneck its inner width)."""
    rules = spec.rules
    channels = BLOCKS[stage.block].width(stage, width, lambda c: round_channels(c, rules.channel_divisor))
    return replace(stage, channels=channels,
                   repeats=round_repeats(stage.repeats, depth, rules.depth_rounding))


def scale_spec(spec: NetSpec, depth: float = 1.0, width: float = 1.0,
               resolution: float = 1.0) -> NetSpec:
    """The network grown (or shrunk) by multipliers d, w, r, with the space's rounding."""
    depth = check_multiplier("depth", depth)
    width = check_multiplier("width", width)
    resolution = check_multiplier("resolution", resolution)
    rules = spec.rules
    stem = spec.stem
    if rules.scale_stem:
        stem = replace(stem, channels=round_channels(stem.channels * width, rules.channel_divisor))
    head = spec.head
    if head.channels and rules.scale_head:
        channels = round_channels(head.channels * width, rules.channel_divisor)
        if rules.head_never_below_base:
            channels = max(channels, head.channels)
        head = replace(head, channels=channels)
    return replace(
        spec,
        stem=stem,
        head=head,
        stages=tuple(scale_stage(s, depth, width, spec) for s in spec.stages),
        resolution=round_resolution(spec.resolution * resolution, rules.resolution_divisor),
    )


@dataclass(frozen=True)
class Coefficients:
    """Compound coefficients: d = alpha^phi, w = beta^phi, r = gamma^phi."""

    alpha: float
    beta: float
    gamma: float

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "gamma"):
            check_multiplier(name, getattr(self, name))

    @property
    def product(self) -> float:
        """alpha * beta^2 * gamma^2: the nominal FLOP multiple per unit of phi."""
        return self.alpha * self.beta**2 * self.gamma**2

    def multipliers(self, phi: float) -> tuple[float, float, float]:
        if not math.isfinite(phi):
            raise ScalingError(f"phi must be finite, got {phi}")
        return self.alpha**phi, self.beta**phi, self.gamma**phi

    def as_dict(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma}


PAPER_B0 = Coefficients(1.2, 1.1, 1.15)  # Tan & Le 2019, section 4 (product 1.92)


def label(point: dict[str, Any]) -> str:
    """A point's name in every table and file: "(alpha, beta, gamma)", shortest form."""
    return f"({point['alpha']:g}, {point['beta']:g}, {point['gamma']:g})"


def grid_2d(step: float = 0.1, target: float = 2.0, bound: float = 2.0,
            band: float = 0.0) -> list[Coefficients]:
    """beta, gamma on a grid from 1 towards `bound`; alpha = target / (beta^2 gamma^2).

    Scaling up (target > 1) beta, gamma step up from 1 to `bound` and alpha is kept where
    it is >= 1; scaling down (target < 1) they step down from 1 to `bound` and alpha is
    kept in [bound, 1].  The nominal product is then exactly `target`; alpha = target
    (beta = gamma = 1) and the near-single-dimension extremes are included as references.
    Where alpha = 1 keeps the product within `band` (relative) of the target, alpha is 1:
    alpha 1.02 would add a block to every one-block stage at any t > 0, so the width- or
    resolution-only reference (1, 1, 1.4), product 1.96, would not be one; and scaling
    down to 0.5 at step 0.1, width alone (1, 0.7, 1) has product 0.49.
    """
    down = target < 1
    points = []
    for beta, gamma in itertools.product(*[_steps_from_one(bound, step)] * 2):
        alpha = target / (beta**2 * gamma**2)
        if abs(beta**2 * gamma**2 / target - 1) <= band + 1e-12:
            alpha = 1.0
        if (alpha > 1 + 1e-9) if down else (alpha < 1 - 1e-9):
            continue
        if down and alpha < bound - 1e-9:
            continue
        points.append(Coefficients(round(min(alpha, 1.0) if down else max(alpha, 1.0), 6), beta, gamma))
    return points


def grid_3d(low: float = 1.0, high: float = 2.0, step: float = 0.05, target: float = 2.0,
            tolerance: float = 0.1) -> list[Coefficients]:
    """The paper-style grid: alpha, beta, gamma in [low, high] with |product - target| <= tol."""
    values = _steps(low, high, step)
    return [Coefficients(a, b, g) for a, b, g in itertools.product(values, values, values)
            if abs(a * b * b * g * g - target) <= tolerance + 1e-9]


def _steps(low: float, high: float, step: float) -> list[float]:
    if step <= 0 or not math.isfinite(step):
        raise ScalingError(f"grid step must be positive, got {step}")
    if low <= 0:
        raise ScalingError(f"grid ranges must start above 0 (got {low}): a coefficient is a multiplier")
    if high < low:
        raise ScalingError(f"grid range [{low}, {high}] is empty")
    count = int(math.floor((high - low) / step + 1e-9)) + 1
    return [round(low + i * step, 6) for i in range(count)]


def _steps_from_one(bound: float, step: float) -> list[float]:
    """1, 1 +- step, ... towards `bound` (up when bound > 1, down when below), bound included
    when on the lattice."""
    if bound >= 1:
        return _steps(1.0, bound, step)
    _steps(bound, 1.0, step)  # validates
    count = int(math.floor((1.0 - bound) / step + 1e-9)) + 1
    return [round(1.0 - i * step, 6) for i in range(count)]
