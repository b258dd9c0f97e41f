"""The costs a network can be landed on: one registered entry each.

A cost is its name, how a `Meter` measures it on a variant (deployment shape), the unit
of that number, a phrase for help texts, and how it grows along a family (the exponents
of d, w and r; params do not grow with resolution).  The built-in costs are registered
below; a new one is one `register_cost(CostKind(...))` — `Meter`, the landing rule,
`--cost` validation and the CLI's help read it from here:

    >>> register_cost(CostKind("weight_bytes", lambda variant, meter: 4 * variant.fast_cost().params,
    ...                        "bytes", "float32 weights", growth=(1, 2, 0)))   # doctest: +SKIP
    >>> Meter("weight_bytes")(Variant(load_space("resnet18")))                  # doctest: +SKIP

FLOPs are the paper's cost, not always the user's: depthwise convolutions and
squeeze-excitation are memory-bound, so a network can be slow at few FLOPs, and
activations predict run time on memory-bound hardware better (Dollár et al., CVPR 2021);
training memory is what decides whether a member fits on a device at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from scalesearch.registry import Registry


@dataclass(frozen=True)
class CostKind:
    name: str
    measure: Callable  # (Variant, Meter) -> the variant's cost; the meter says where to time
    unit: str
    help: str  # what the number counts, for help texts
    growth: tuple[float, float, float]  # exponents of (d, w, r) in the cost's nominal growth
    timed: bool = False  # timed on this machine: it has a spread and cannot be recomputed elsewhere

    @property
    def knobs(self) -> tuple[str, ...]:
        """What may move to land on this cost: only the multipliers it grows with."""
        _, width, resolution = self.growth
        return tuple(knob for knob, grows in (("resolution", resolution), ("width", width)) if grows)


COSTS: Registry[CostKind] = Registry("cost")


def register_cost(kind: CostKind) -> CostKind:
    return COSTS.add(kind)


def cost_kind(name: str) -> CostKind:
    """The registered cost `name`; a user error that lists the known ones otherwise."""
    return COSTS.lookup(name, "{{cost}} must be one of {known}, got {name}")


def cost_help() -> str:
    """Each known cost with what it counts, for a `--cost` option's help."""
    return COSTS.described(lambda kind: f"{kind.name} ({kind.unit}: {kind.help})")


def recomputable(name: str) -> bool:
    """Whether a cost recorded by another run can be measured again here (not timed)."""
    return name in COSTS and not COSTS[name].timed


register_cost(CostKind("flops", lambda variant, meter: variant.macs(), "multiply-adds",
                       "of conv and linear layers, the paper's FLOPs", (1, 2, 2)))
register_cost(CostKind("params", lambda variant, meter: variant.fast_cost().params, "parameters",
                       "weights, biases, batch-norm scale and shift", (1, 2, 0)))
register_cost(CostKind("activations", lambda variant, meter: variant.fast_cost().activations, "elements",
                       "the outputs of conv and linear layers", (1, 1, 2)))
register_cost(CostKind("memory", lambda variant, meter: variant.training_memory(), "bytes",
                       "kept alive by one SGD step at batch 128: the activations autograd saves, measured, "
                       "plus weights, gradients and momentum (costs/memory.py)", (1, 1, 2)))
register_cost(CostKind("latency", lambda variant, meter: meter.latency(variant).ms, "ms",
                       "a forward pass timed at --latency-threads, --latency-batch on --latency-device", (1, 2, 2), timed=True))
