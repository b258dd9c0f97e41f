"""measure(model_or_spec): the public one-call cost of a NetSpec or a built model.

Behind `scalesearch.measure(...)`: a NetSpec is measured at its own shape or another
resolution, a model from `scalesearch.build_model` at the resolution it carries.
"""

from __future__ import annotations

from torch import nn

from scalesearch.errors import UserError, check_whole
from scalesearch.costs.cost import Cost, measure_model, measure_spec
from scalesearch.costs.guard import check_input, check_spec
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
    check_whole("resolution", resolution, 1, optional=True)  # True and 32.5 were taken as 1 and 32
    check_whole("in_channels", in_channels, 1, optional=True)
    if isinstance(model_or_spec, NetSpec):
        return measure_spec(model_or_spec.with_shape(resolution=resolution, in_channels=in_channels))
    px = resolution or getattr(model_or_spec, "resolution", None)
    if not px:
        raise UserError("{resolution} is needed to measure a module that was not built by scalesearch")
    spec = getattr(model_or_spec, "spec", None)
    channels = in_channels or getattr(model_or_spec, "in_channels", None) or (spec.in_channels if spec else 3)
    if spec is not None:  # the same guard as building it (costs/guard.py), at the shape asked
        check_spec(f"{spec.name} at {px} px", spec.with_shape(resolution=int(px), in_channels=channels))
    else:
        check_input(f"this module at {px} px", int(px), channels)
    return measure_model(model_or_spec, channels, int(px))
