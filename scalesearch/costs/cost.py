"""What a network costs: parameters, FLOPs and activations, counted by fvcore.

`flops` follows the paper's convention: one fused multiply-add is one FLOP, counted by
fvcore for conv / linear / matmul ops only.  fvcore also counts batch-norm and pooling;
those terms are dropped from `flops` and the full figure is kept as `fvcore_total`.

`count_macs` and `analytic_cost` are the fast twin for solvers that measure many
candidates: the analytic counts of models/complexity.py, cross-checked against fvcore on
every baseline by the tests.
"""

from __future__ import annotations

import logging
from collections import Counter
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache

import torch
from torch import nn

from scalesearch.compat import fvcore_default_handles
from scalesearch.models.complexity import complexity
from scalesearch.models import build_model
from scalesearch.spec.netspec import NetSpec

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
    """Count a model's cost with fvcore on a 1 x C x R x R input, from one trace.

    fvcore's FlopCountAnalysis and ActivationCountAnalysis would each trace the model; here
    one JitModelAnalysis carries both sets of op handles, each op's counts keyed
    "flops/OP" and "acts/OP", so a big member's forward is traced once, not twice.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's imports script functions with torch.jit
        from fvcore.nn.jit_analysis import JitModelAnalysis

    model = model.eval()
    example = torch.zeros(1, in_channels, resolution, resolution)
    flop_handles, act_handles = fvcore_default_handles(model, example)
    handles = {kind: _both_counts(kind, flop_handles.get(kind), act_handles.get(kind))
               for kind in set(flop_handles) | set(act_handles)}
    handles.update({op: None for op in _IGNORED_OPS})
    fvcore_logger = logging.getLogger("fvcore")
    level = fvcore_logger.level
    fvcore_logger.setLevel(logging.ERROR)  # unsupported-op notes are routed away on purpose
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit deprecation notes from fvcore's tracer
            analysis = JitModelAnalysis(model, example).set_op_handle(**handles)
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            by_key = analysis.by_operator()
    finally:
        fvcore_logger.setLevel(level)
    flops = {key[len("flops/"):]: int(v) for key, v in by_key.items() if key.startswith("flops/")}
    total = sum(flops.values())
    macs = total - sum(v for op, v in flops.items() if op in _NON_MAC_OPS)
    activations = sum(int(v) for key, v in by_key.items() if key.startswith("acts/"))
    return Cost(params=count_params(model), flops=macs, activations=activations, fvcore_total=total)


def _both_counts(kind: str, flop_handle, act_handle):
    """One fvcore op handle returning op `kind`'s FLOP and activation counts, keyed
    "flops/NAME" and "acts/NAME" (NAME as fvcore names it: "aten::conv" -> "conv")."""
    name = kind.split("::", 1)[-1]

    def handle(inputs, outputs):
        counts = Counter()
        for prefix, inner in (("flops/", flop_handle), ("acts/", act_handle)):
            if inner is None:
                continue
            value = inner(inputs, outputs)
            items = value.items() if isinstance(value, Counter) else [(name, value)]
            counts.update({prefix + op: n for op, n in items})
        return counts

    return handle


@lru_cache(maxsize=512)
def _measure_cached(spec: NetSpec) -> Cost:
    return measure_model(build_model(spec), spec.in_channels, spec.resolution)


def measure_spec(spec: NetSpec) -> Cost:
    """fvcore cost of `spec` at its own shape, cached by the spec's value (frozen = hashable)."""
    return _measure_cached(spec.validate())


def count_macs(spec: NetSpec) -> int:
    """Multiply-adds of conv and linear layers, computed from the spec (no model built)."""
    return complexity(spec).macs


def analytic_cost(spec: NetSpec) -> Cost:
    """params, FLOPs and activations from the spec (no model, no trace; equal to fvcore's).
    `fvcore_total` is left 0: batch-norm and pooling terms are not counted analytically."""
    c = complexity(spec)
    return Cost(params=c.params, flops=c.macs, activations=c.activations, fvcore_total=0)
