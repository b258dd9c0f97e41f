"""Variant: one baseline scaled by (d, w, r), at one input shape.

The same object serves both shapes the design keeps apart: the *deployment* shape (the
space's native resolution, 3 channels, 1000 classes — what FLOPs, params and the
constraint refer to) and the *proxy* shape (the data's channels and classes at a small
base resolution scaled by the same r — what trials train at).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from torch import nn

from scalesearch.costs.cost import Cost, analytic_cost, count_macs, measure_model, measure_spec
from scalesearch.costs.guard import check_input, check_spec
from scalesearch.spec.scaling import check_multiplier, round_resolution, scale_spec
from scalesearch.spec.spaces import SearchSpace
from scalesearch.spec.netspec import NetSpec

if TYPE_CHECKING:
    from scalesearch.costs.latency import Latency


@dataclass(frozen=True)
class Variant:
    space: SearchSpace
    depth: float = 1.0
    width: float = 1.0
    resolution_mult: float = 1.0
    resolution: int = 0  # pixels; 0 = the space's resolution x resolution_mult
    in_channels: int = 3
    num_classes: int = 1000
    dropout: float | None = None  # None = the spec's own

    def __post_init__(self) -> None:
        for name, value in (("depth", self.depth), ("width", self.width),
                            ("resolution", self.resolution_mult)):
            check_multiplier(name, value)
        if not self.resolution:
            divisor = self.space.network.rules.resolution_divisor if self.space.network else 1
            px = round_resolution(self.space.resolution * self.resolution_mult, divisor)
            object.__setattr__(self, "resolution", px)

    @property
    def spec(self) -> NetSpec | None:
        """The scaled NetSpec at this shape (None for factory baselines)."""
        if self.space.network is None:
            return None
        return _scaled_spec(self.space.network, self.depth, self.width, self.resolution,
                            self.in_channels, self.num_classes, self.dropout)

    def at_proxy(self, base_resolution: int, in_channels: int, num_classes: int) -> "Variant":
        """The same (d, w, r) at the proxy shape: base resolution x r, the data's shape."""
        divisor = self.space.network.rules.resolution_divisor if self.space.network else 1
        return replace(self, resolution=round_resolution(base_resolution * self.resolution_mult, divisor),
                       in_channels=in_channels, num_classes=num_classes)

    def build(self, seed: int | None = None) -> nn.Module:
        """The network at this shape; with `seed`, its initial weights are that seed's.

        A trained result belongs to its seed, weights included: without one, the weights
        would depend on whatever the process drew from torch's RNG before (other
        trials, a timing probe), and a point's accuracy on which worker trained it.
        The global RNG is left as it was.
        """
        if seed is None:
            return self._build()
        import torch

        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._build()

    def check_size(self, batch: int = 1, training: bool = False) -> None:
        """Refuse a network this machine cannot hold, before it is built (costs/guard.py)."""
        what = f"{self.space.name} at d={self.depth:.3g}, w={self.width:.3g}, {self.resolution} px"
        if self.spec is not None:
            check_spec(what, self.spec, batch, training)
        else:  # a factory: nothing is known of it but its input until it is built
            check_input(what, self.resolution, self.in_channels, batch)

    def _build(self) -> nn.Module:
        self.check_size()
        if self.spec is not None:
            from scalesearch.models import build_model
            return build_model(self.spec)
        return self.space.factory(depth=self.depth, width=self.width,
                                  num_classes=self.num_classes, in_channels=self.in_channels)

    def cost(self) -> Cost:
        self.check_size()
        if self.spec is not None:
            return measure_spec(self.spec)
        return _factory_cost(self)

    def macs(self) -> int:
        """Fast multiply-add count (analytic) for solvers; equals cost().flops."""
        return count_macs(self.spec) if self.spec is not None else self.cost().flops

    def fast_cost(self) -> Cost:
        """params, FLOPs and activations counted from the spec (fvcore's for factories)."""
        return analytic_cost(self.spec) if self.spec is not None else self.cost()

    def latency(self, device: str = "cpu", threads: int = 1, batch: int = 1) -> "Latency":
        """Forward-pass latency at this shape (costs/latency.py; cached per machine)."""
        from scalesearch.costs.latency import measure_latency

        self.check_size(batch)  # build() checks batch 1; timing runs `batch` images at once
        return measure_latency(self.build(0), self.in_channels, self.resolution, device, threads, batch,
                               key=self._measure_key)

    def training_memory(self) -> int:
        """Bytes one SGD step keeps alive at this shape (costs/memory.py; cached per process)."""
        from scalesearch.costs.memory import BATCH, cached_training_memory

        self.check_size(2, training=True)
        return cached_training_memory(self._measure_key, lambda: self.build(0), self.in_channels, self.resolution,
                                      BATCH)

    @property
    def _measure_key(self) -> str:
        """What a measurement's cache knows this network by: its spec's hash, or for a
        factory its source and multipliers (the shape is keyed beside it)."""
        return self.spec.spec_hash() if self.spec is not None else f"{self.space.source}:{self.depth}:{self.width}"

    def describe(self) -> dict:
        return {"baseline": self.space.name, "depth": self.depth, "width": self.width,
                "resolution_mult": self.resolution_mult, "resolution": self.resolution,
                "in_channels": self.in_channels, "num_classes": self.num_classes}


@lru_cache(maxsize=2048)
def _scaled_spec(network: NetSpec, depth: float, width: float, resolution: int,
                 in_channels: int, num_classes: int, dropout: float | None) -> NetSpec:
    spec = scale_spec(network, depth, width).with_shape(
        resolution=resolution, in_channels=in_channels, num_classes=num_classes)
    if dropout is not None:
        spec = replace(spec, dropout=dropout)
    return spec.validate()


@lru_cache(maxsize=256)
def _factory_cost(variant: Variant) -> Cost:
    return measure_model(variant.build(), variant.in_channels, variant.resolution)
