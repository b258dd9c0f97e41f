"""profile_variant: everything `scalesearch profile` reports about one scaled baseline."""

from __future__ import annotations

from typing import Any

import torch

from scalesearch.errors import UserError
from scalesearch.models.complexity import macs_by_part
from scalesearch.costs.latency import measure_latency
from scalesearch.spec.coefficients import COEFFICIENTS, choose_source, together
from scalesearch.device import resolve_device
from scalesearch.spec.scaling import Coefficients
from scalesearch.spec.spaces import SearchSpace
from scalesearch.costs.variant import Variant


def resolve_multipliers(depth: float | None, width: float | None, resolution: int | None,
                        phi: float | None, alpha: float | None, beta: float | None,
                        gamma: float | None) -> tuple[float, float, float, int | None]:
    """(d, w, r, pixels) from either direct multipliers or phi with alpha, beta, gamma."""
    compound = together(phi=phi, alpha=alpha, beta=beta, gamma=gamma)
    choose_source({"{depth}/{width}": depth is not None or width is not None,
                   "{phi} with " + COEFFICIENTS: compound}, required=False)
    if compound:
        d, w, r = Coefficients(alpha, beta, gamma).multipliers(phi)
        return d, w, r, resolution
    return (1.0 if depth is None else depth), (1.0 if width is None else width), 1.0, resolution


def profile_variant(space: SearchSpace, d: float, w: float, r: float, pixels: int | None,
                    in_channels: int, num_classes: int, latency: bool = False,
                    device: str = "auto", per_stage: bool = False, latency_threads: int = 1,
                    latency_batch: int = 1) -> dict[str, Any]:
    if pixels is not None and pixels < 1:
        raise UserError(f"{{resolution}} must be a positive number of pixels, got {pixels}")
    if in_channels < 1 or num_classes < 1:
        raise UserError("{in_channels} and {num_classes} must be >= 1")
    variant = Variant(space, d, w, r, resolution=pixels or 0, in_channels=in_channels,
                      num_classes=num_classes)
    if variant.spec is None:
        _check_factory_input(variant)
    cost = variant.cost()
    base = Variant(space, in_channels=in_channels, num_classes=num_classes).cost()
    result: dict[str, Any] = {
        **variant.describe(),
        "shape": "deployment" if (in_channels, num_classes) == (3, 1000) else "custom",
        **cost.as_dict(),
        "flops_ratio": cost.flops / base.flops,
    }
    if variant.spec is not None:
        result["stages"] = [s.encode() for s in variant.spec.stages]
        if per_stage:
            result["per_stage"] = macs_by_part(variant.spec)
    if latency:
        if latency_threads < 1 or latency_batch < 1:
            raise UserError("{latency_threads} and {latency_batch} must be >= 1")
        dev = resolve_device(device)
        variant.check_size(latency_batch)  # build() checks one image; timing runs the batch
        timed = measure_latency(variant.build(0), in_channels, variant.resolution, dev, latency_threads,
                                latency_batch)  # timed afresh: profile is asked to time now
        result.update(latency_ms=timed.ms, latency_low_ms=timed.low_ms, latency_high_ms=timed.high_ms,
                      latency_spread=timed.spread, latency_runs=timed.runs, latency_format=timed.memory_format,
                      latency_threads=timed.threads, latency_batch=timed.batch, machine=timed.machine)
        result["device"] = str(dev)
    return result


def _check_factory_input(variant: Variant) -> None:
    try:
        model = variant.build().eval()
        with torch.no_grad():
            model(torch.zeros(1, variant.in_channels, variant.resolution, variant.resolution))
    except Exception as error:  # the user's factory: report, don't crash
        raise UserError(f"{variant.space.name} at d={variant.depth:g} w={variant.width:g} "
                        f"{variant.resolution}px failed: {type(error).__name__}: {error}") from None
