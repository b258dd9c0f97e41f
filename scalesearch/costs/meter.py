"""The cost a search holds constant: FLOPs, params, activations or latency, as one function.

FLOPs are the paper's cost, not always the user's: depthwise convolutions and
squeeze-excitation are memory-bound, so a network can be slow at few FLOPs, and
activations predict run time on memory-bound hardware better (Dollár et al., CVPR 2021).
A `Meter` measures a variant's chosen cost at the deployment shape — analytically for
FLOPs, params and activations (equal to fvcore's), by timing for latency
(costs/latency.py) — so the grid's phi = 1 correction, compare's per-method solve and
`expand --exact-cost` can land on any of them with the same code (costs/match.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from scalesearch.errors import UserError
from scalesearch.costs.latency import Latency
from scalesearch.costs.variant import Variant

COSTS = ("flops", "params", "activations", "latency")


@dataclass(frozen=True)
class Meter:
    cost: str = "flops"
    device: str = "cpu"  # latency only: where, with how many threads, at what batch
    threads: int = 1
    batch: int = 1

    def __post_init__(self) -> None:
        if self.cost not in COSTS:
            raise UserError(f"{{cost}} must be one of {', '.join(COSTS)}, got {self.cost!r}")
        if self.threads < 1 or self.batch < 1:
            raise UserError("{latency_threads} and {latency_batch} must be >= 1")

    def __call__(self, variant: Variant) -> float:
        if self.cost == "flops":
            return variant.macs()
        if self.cost == "latency":
            return self.latency(variant).ms
        return getattr(variant.fast_cost(), self.cost)

    def latency(self, variant: Variant) -> Latency:
        return variant.latency(self.device, self.threads, self.batch)

    def spread(self, variant: Variant) -> float:
        """How far two measurements of this cost may disagree (relative): 0 but for latency."""
        return self.latency(variant).spread if self.cost == "latency" else 0.0

    @property
    def knobs(self) -> tuple[str, ...]:
        """What may move to land on a cost: resolution adds no parameters."""
        return ("width",) if self.cost == "params" else ("resolution", "width")

    @property
    def label(self) -> str:
        if self.cost == "latency":
            return f"latency ({self.threads} thread(s), batch {self.batch}, {self.device})"
        return {"flops": "FLOPs (multiply-adds)"}.get(self.cost, self.cost)


FLOPS = Meter()
