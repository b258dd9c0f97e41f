"""The public Python API: take a baseline or a family member into your own code.

    >>> import scalesearch
    >>> model = scalesearch.build_model("efficientnet-b0", phi=1, alpha=1.2, beta=1.1, gamma=1.15)
    >>> model.spec.name, model.resolution
    ('efficientnet-b0', 258)
    >>> cost = scalesearch.measure(model)          # params, FLOPs (multiply-adds), activations
    >>> cost.params > 5_000_000
    True

Everything here is re-exported by `scalesearch` (see `scalesearch.__all__`) and kept
stable; the modules behind it may move.  An argument of the wrong type raises
`TypeError`, one out of range `scalesearch.UserError` (a `ValueError`), each naming the
argument; nothing is coerced (`width="2"`, `resolution=32.7` and `num_classes=2.5` are
refused, not converted or truncated).
"""

from __future__ import annotations

import math
from numbers import Real
from pathlib import Path
from typing import Any

from torch import nn

from scalesearch.errors import UserError, check_whole
from scalesearch.costs.cost import Cost
from scalesearch.costs.of import measure
from scalesearch.costs.profile import resolve_multipliers
from scalesearch.costs.variant import Variant
from scalesearch.models.weights import LoadedWeights, load_weights
from scalesearch.runs.results import RunResults, read_compare, read_family, read_grid
from scalesearch.spec.netspec import NetSpec
from scalesearch.spec.spaces import SearchSpace, load_space as _load_space
from scalesearch.spec.weight_sources import with_weight_source

__all__ = ["Cost", "LoadedWeights", "NetSpec", "RunResults", "SearchSpace", "UserError", "build_model",
           "load_space", "measure", "read_compare", "read_family", "read_grid", "variant"]


def load_space(ref: str | Path, *, weights_from: str | None = None) -> SearchSpace:
    """A baseline by built-in name, YAML path (a search space or an `expand` member) or
    `package.module:factory`; `weights_from` (torchvision | timm) sets the spec's BN eps,
    momentum and activation to that source's conventions.

    >>> space = load_space("resnet50")
    >>> space.network.stages[0].encode(), space.resolution
    ('bottleneck_r3_k3_s1_e4_c256', 224)
    """
    return with_weight_source(_load_space(str(ref)), weights_from)


def variant(ref: str | Path | SearchSpace, *, phi: float | None = None, alpha: float | None = None,
            beta: float | None = None, gamma: float | None = None, depth: float | None = None,
            width: float | None = None, resolution: int | None = None, num_classes: int = 1000,
            in_channels: int = 3, weights_from: str | None = None) -> Variant:
    """The scaled baseline as a `Variant` (what `build_model` builds; `.spec`, `.cost()`).

    Give either `phi` with `alpha`, `beta`, `gamma` (d, w, r = alpha^phi, beta^phi,
    gamma^phi) or `depth` / `width` multipliers; `resolution` is pixels (default: the
    space's resolution x r).
    """
    _check_arguments(ref=ref, phi=phi, alpha=alpha, beta=beta, gamma=gamma, depth=depth, width=width,
                     resolution=resolution, num_classes=num_classes, in_channels=in_channels,
                     weights_from=weights_from)
    space = with_weight_source(ref if isinstance(ref, SearchSpace) else _load_space(str(ref)), weights_from)
    d, w, r, px = resolve_multipliers(depth, width, resolution, phi, alpha, beta, gamma)
    if px is not None and px < 1:
        raise UserError(f"{{resolution}} must be a positive number of pixels, got {px}")
    return Variant(space, d, w, r, resolution=px or 0, in_channels=in_channels, num_classes=num_classes)


def build_model(ref: str | Path | SearchSpace, *, phi: float | None = None, alpha: float | None = None,
                beta: float | None = None, gamma: float | None = None, depth: float | None = None,
                width: float | None = None, resolution: int | None = None, num_classes: int = 1000,
                in_channels: int = 3, seed: int | None = None, weights: str | Path | None = None,
                weights_from: str | None = None) -> nn.Module:
    """A freshly initialised `nn.Module` for a baseline or member, optionally scaled.

    The model carries `model.spec` (its NetSpec; None for a factory baseline) and
    `model.resolution` (the pixels it was sized for).  `weights`: a torchvision-, timm- or
    scalesearch-saved state_dict file, mapped by order (shapes must match); with
    `weights_from` the spec first takes that source's BN eps / momentum / activation so
    the outputs agree with the source's model.

    >>> m = build_model("resnet18", num_classes=10)
    >>> m.classifier.out_features, m.resolution
    (10, 224)
    """
    check_whole("seed", seed, 0, optional=True)
    if weights is not None and not isinstance(weights, (str, Path)):
        raise TypeError(f"weights must be a path (str or Path), got {type(weights).__name__}")
    chosen = variant(ref, phi=phi, alpha=alpha, beta=beta, gamma=gamma, depth=depth, width=width,
                     resolution=resolution, num_classes=num_classes, in_channels=in_channels,
                     weights_from=weights_from)
    model = chosen.build(seed)
    model.spec = chosen.spec
    model.resolution = chosen.resolution
    model.in_channels = chosen.in_channels
    if weights is not None:
        model.loaded_weights = load_weights(model, weights)
    return model


# -- argument checks: the API's edge, where the CLI has typer -------------------------------

def _check_arguments(*, ref: Any, resolution: Any, num_classes: Any, in_channels: Any, weights_from: Any,
                     **multipliers: Any) -> None:
    if not isinstance(ref, (str, Path, SearchSpace)):
        raise TypeError(f"ref must be a baseline name, a path or a SearchSpace, got {type(ref).__name__}")
    for name, value in multipliers.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
        if not math.isfinite(value):
            raise UserError(f"{name} must be a finite number, got {value!r}")
    check_whole("resolution", resolution, 1, optional=True)
    check_whole("num_classes", num_classes, 1)
    check_whole("in_channels", in_channels, 1)
    if weights_from is not None and not isinstance(weights_from, str):
        raise TypeError(f"weights_from must be a string (torchvision | timm), got {type(weights_from).__name__}")


