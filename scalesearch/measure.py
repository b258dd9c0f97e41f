"""What a network costs: parameters, FLOPs, activations (fvcore) and latency.

`flops` follows the paper's convention: one fused multiply-add is one FLOP, counted by
fvcore for conv / linear / matmul ops only.  fvcore also counts batch-norm and pooling;
those terms are dropped from `flops` and the full figure is kept as `fvcore_total`.

`count_macs` is a fast twin for solvers that measure many candidates: the analytic
count of complexity.py, cross-checked against fvcore on every baseline by the tests.
"""

from __future__ import annotations

import logging
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch
from torch import nn

from scalesearch.complexity import macs_by_part
from scalesearch.models import build_model
from scalesearch.spec import NetSpec

# Ops fvcore has no handle for (activations, the SE multiply, residual add, max-pool):
# they cost no multiply-adds in the paper's convention, so their warnings are noise.
_IGNORED_OPS = ("aten::silu", "aten::silu_", "aten::sigmoid", "aten::mul", "aten::add",
                "aten::add_", "aten::relu", "aten::relu_", "aten::hardtanh", "aten::hardtanh_",
                "aten::max_pool2d", "aten::mean", "aten::dropout", "aten::feature_dropout",
                "aten::div", "aten::clamp_min", "aten::clamp")
_NON_MAC_OPS = ("batch_norm", "adaptive_avg_pool2d", "upsample_nearest2d", "upsample_bilinear2d",
                "group_norm", "layer_norm", "instance_norm")


@dataclass(frozen=True)
class Cost:
    """Measured cost of one network at one input shape (batch 1)."""

    params: int
    flops: int  # multiply-adds of conv / linear / matmul
    activations: int
    fvcore_total: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def measure_model(model: nn.Module, in_channels: int, resolution: int) -> Cost:
    """Count a model's cost with fvcore on a 1 x C x R x R input."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's imports script functions with torch.jit
        from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

    model = model.eval()
    example = torch.zeros(1, in_channels, resolution, resolution)
    fvcore_logger = logging.getLogger("fvcore")
    level = fvcore_logger.level
    fvcore_logger.setLevel(logging.ERROR)  # unsupported-op notes are routed away on purpose
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit deprecation notes from fvcore's tracer
            flops = FlopCountAnalysis(model, example)
            flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            for op in _IGNORED_OPS:
                flops.set_op_handle(op, None)
            by_op = flops.by_operator()
            total = int(flops.total())
            macs = total - sum(int(v) for k, v in by_op.items() if k in _NON_MAC_OPS)
            acts = ActivationCountAnalysis(model, example)
            acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            activations = int(acts.total())
    finally:
        fvcore_logger.setLevel(level)
    return Cost(params=count_params(model), flops=macs, activations=activations, fvcore_total=total)


@lru_cache(maxsize=512)
def _measure_cached(spec: NetSpec) -> Cost:
    return measure_model(build_model(spec), spec.in_channels, spec.resolution)


def measure_spec(spec: NetSpec) -> Cost:
    """fvcore cost of `spec` at its own shape, cached by the spec's value (frozen = hashable)."""
    return _measure_cached(spec.validate())


def count_macs(spec: NetSpec) -> int:
    """Multiply-adds of conv and linear layers, computed from the spec (no model built)."""
    return sum(macs_by_part(spec).values())


def measure_latency(model: nn.Module, in_channels: int, resolution: int,
                    device: torch.device | str = "cpu", repeats: int = 20) -> float:
    """Median forward time in milliseconds at batch 1 on `device` (after warm-up)."""
    device = torch.device(device)
    model = model.eval().to(device, memory_format=torch.channels_last)
    example = torch.zeros(1, in_channels, resolution, resolution, device=device)
    example = example.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 3):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(example)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= 3:
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0
