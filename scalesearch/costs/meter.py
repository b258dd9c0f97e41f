"""The cost a search holds constant, as one function: a `Meter` over a registered cost.

A `Meter` measures a variant's chosen cost (costs/kinds.py: FLOPs, params, activations,
latency, or any registered one) at the deployment shape — analytically for FLOPs, params
and activations (equal to fvcore's), by timing for latency (costs/latency.py) — so the
grid's phi = 1 correction, compare's per-method solve and `expand --exact-cost` can land
on any of them with the same code (costs/match.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalesearch.errors import UserError
from scalesearch.costs.kinds import CostKind, cost_kind
from scalesearch.costs.latency import Latency
from scalesearch.costs.variant import Variant


@dataclass(frozen=True)
class Meter:
    cost: str = "flops"
    device: str = "cpu"  # latency only: where, with how many threads, at what batch
    threads: int = 1
    batch: int = 1

    def __post_init__(self) -> None:
        cost_kind(self.cost)
        if self.threads < 1 or self.batch < 1:
            raise UserError("{latency_threads} and {latency_batch} must be >= 1")

    @property
    def kind(self) -> CostKind:
        return cost_kind(self.cost)

    def __call__(self, variant: Variant) -> float:
        return self.kind.measure(variant, self)

    def latency(self, variant: Variant) -> Latency:
        return variant.latency(self.device, self.threads, self.batch)

    def spread(self, variant: Variant) -> float:
        """How far two measurements of this cost may disagree (relative): 0 but for latency."""
        return self.latency(variant).spread if self.kind.timed else 0.0

    @property
    def knobs(self) -> tuple[str, ...]:
        """What may move to land on the cost (resolution adds no parameters)."""
        return self.kind.knobs


FLOPS = Meter()
