"""measure(model_or_spec): the public one-call cost of a NetSpec or a built model.

Behind `scalesearch.measure(...)`: a NetSpec is measured at its own shape or another
resolution, a model from `scalesearch.build_model` at the resolution it carries.
"""

from __future__ import annotations

from torch import nn

from scalesearch.errors import UserError
from scalesearch.costs.cost import Cost, measure_model, measure_spec
from scalesearch.spec.netspec import NetSpec


def measure(model_or_spec: nn.Module | NetSpec, resolution: int | None = None,
            in_channels: int | None = None) -> Cost:
    """params, FLOPs (multiply-adds, the paper's convention) and activations at batch 1.

    A NetSpec is measured at `resolution` (default: its own); a model from `build_model`
    at its `resolution`; any other module needs `resolution` (and `in_channels`, default 3).

    >>> import scalesearch
    >>> scalesearch.measure(scalesearch.load_space("resnet18").network).flops
    1814073344
    """
    if isinstance(model_or_spec, NetSpec):
        return measure_spec(model_or_spec.with_shape(resolution=resolution, in_channels=in_channels))
    px = resolution or getattr(model_or_spec, "resolution", None)
    if not px:
        raise UserError("{resolution} is needed to measure a module that was not built by scalesearch")
    spec = getattr(model_or_spec, "spec", None)
    channels = in_channels or getattr(model_or_spec, "in_channels", None) or (spec.in_channels if spec else 3)
    return measure_model(model_or_spec, channels, int(px))
