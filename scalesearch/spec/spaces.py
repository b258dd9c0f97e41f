"""Where baselines come from: built-in spaces, a user YAML file, or a Python factory.

`load_space(ref)` accepts
- a built-in name (`efficientnet-b0`, `resnet18`, `resnet50`, `mobilenetv1`, `mobilenetv2`:
  the YAML files in the repo's `searchspaces/`, installed with the package);
- a path to a YAML file with the same schema (`network:` plus optional `proxy:`, `grid:`,
  `dropout_growth:`), or a bare NetSpec YAML such as a member emitted by `expand`;
- `package.module:factory`, a callable `factory(depth, width, num_classes, in_channels)
  -> nn.Module`.  Its design resolution is the attribute `factory.resolution` (224 if
  absent); scalesearch scales resolution itself and passes depth and width through.
"""

from __future__ import annotations

import importlib
import importlib.resources
import math
import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import yaml

from scalesearch.errors import UserError
from scalesearch.files import read_text
from scalesearch.spec.netspec import NetSpec, SpecError

_BUILTIN_PACKAGE = "scalesearch.builtin_spaces"
_SPACE_KEYS = {"description", "network", "proxy", "grid", "dropout_growth"}
_PROXY_KEYS = {"resolution", "epochs", "train_images", "batch_size", "lr", "warmup_epochs", "weight_decay",
               "optimizer", "readout_fan_in", "clip_grad", "val_images", "eval_weights", "ema_decay", "flips",
               "calibrated"}  # the recipe: training/budget.py; `calibrated` says by what run it was chosen
_WORD_KEYS = {"shape", "eval_weights", "flips", "optimizer", "calibrated"}  # names, not numbers: checked where read
_GRID_KEYS = {"step", "target", "tolerance", "shape", "low", "high"}


class SpaceError(UserError):
    """A baseline reference that cannot be resolved."""


@dataclass(frozen=True)
class SearchSpace:
    """A baseline plus its defaults: proxy budget, grid and dropout growth."""

    name: str
    source: str
    description: str = ""
    network: NetSpec | None = None
    factory: Callable[..., Any] | None = field(default=None, compare=False)
    factory_resolution: int = 224
    proxy: dict[str, Any] = field(default_factory=dict, compare=False)
    grid: dict[str, Any] = field(default_factory=dict, compare=False)
    dropout_growth: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def resolution(self) -> int:
        return self.network.resolution if self.network else self.factory_resolution

    @property
    def proxy_resolution(self) -> int:
        """The base resolution trials train at (scaled by each candidate's r)."""
        return int(self.proxy.get("resolution", 32))

    @property
    def calibrated(self) -> str:
        """How the proxy recipe was chosen (`scalesearch calibrate` writes it); "" if never."""
        return str(self.proxy.get("calibrated") or "")

    def with_proxy(self, recipe: dict[str, Any] | None) -> "SearchSpace":
        """This space with `recipe` (a `--proxy FILE`'s block, `read_recipe`) over its own proxy."""
        if not recipe:
            return self
        return replace(self, proxy={**self.proxy, **recipe})

    @property
    def identity(self) -> str:
        """What a run records to recognise this baseline: its NetSpec's hash, or the factory."""
        return self.network.spec_hash() if self.network else self.source

    @property
    def kind(self) -> str:
        return "spec" if self.network else "factory"

    def dropout_at(self, phi: float) -> float | None:
        """Member phi's dropout: base + per_phi x phi, capped at `max` (None when the space
        sets no growth: the network keeps its own).  The grid's phi = 1 networks and
        expand's members both take theirs from here."""
        if not self.dropout_growth or self.network is None:
            return None
        value = self.network.dropout + float(self.dropout_growth.get("per_phi", 0.0)) * phi
        value = min(value, float(self.dropout_growth.get("max", 0.95)))
        # Rounded so 0.2 + 0.05 * 3 prints and saves as 0.35, not 0.35000000000000003.
        return round(max(0.0, value), 6)

    def __hash__(self) -> int:
        return hash((self.name, self.source))


def _builtin_files() -> dict[str, Any]:
    root = importlib.resources.files(_BUILTIN_PACKAGE)
    return {item.name.rsplit(".", 1)[0]: item for item in root.iterdir()
            if item.name.endswith(".yaml")}


def builtin_names() -> list[str]:
    return sorted(_builtin_files())


def load_space(ref: str) -> SearchSpace:
    """Resolve a --baseline value to a SearchSpace (see the module docstring)."""
    ref = str(ref).strip()
    builtins = _builtin_files()
    if ref in builtins:
        return _space_from_text(builtins[ref].read_text(), source=f"builtin:{ref}")
    if ref.endswith((".yaml", ".yml")) or Path(ref).is_file():
        path = Path(ref)
        if not path.is_file():
            raise SpaceError(f"{ref}: no such file")
        return _space_from_text(read_text(path, "search space"), source=str(path))
    if ":" in ref:
        return _space_from_factory(ref)
    raise SpaceError(f"unknown baseline {ref!r}; known: {', '.join(sorted(builtins))} "
                     "(or a path to a .yaml space, or package.module:factory)")


def _space_from_text(text: str, source: str) -> SearchSpace:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"{source}: not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{source}: expected a mapping with a 'network' field")
    if "network" not in data:  # a bare NetSpec, e.g. a member emitted by `expand`
        data = {"network": data}
    unknown = sorted(set(data) - _SPACE_KEYS)
    if unknown:
        raise SpecError(f"{source}: unknown field {unknown[0]!r} (known: {', '.join(sorted(_SPACE_KEYS))})")
    network = NetSpec.from_dict(data["network"], source=f"{source}: network").validate()
    proxy = _section(data, "proxy", _PROXY_KEYS, source)
    grid = _section(data, "grid", _GRID_KEYS, source)
    growth = _section(data, "dropout_growth", {"per_phi", "max"}, source)
    return SearchSpace(name=network.name, source=source, description=data.get("description", ""),
                       network=network, proxy=proxy, grid=grid, dropout_growth=growth)


def read_recipe(path: str | Path) -> dict[str, Any]:
    """The `proxy:` block of a recipe file (what `scalesearch calibrate` writes, or a space's
    YAML), checked like a space's: `grid/compare/train --proxy FILE` trains with it."""
    source = str(path)
    if not Path(path).is_file():
        raise SpaceError(f"{source}: no such file (a recipe file holds a proxy: block, as `scalesearch calibrate` writes)")
    try:
        data = yaml.safe_load(read_text(Path(path), "proxy recipe"))
    except yaml.YAMLError:
        raise SpecError(f"{source}: not valid YAML") from None
    if not isinstance(data, dict) or not isinstance(data.get("proxy"), dict):
        raise SpecError(f"{source}: expected a mapping with a 'proxy' field (as `scalesearch calibrate` writes)")
    return _section(data, "proxy", _PROXY_KEYS, source)


def _section(data: dict, key: str, allowed: set[str], source: str) -> dict[str, Any]:
    value = data.get(key) or {}
    if not isinstance(value, dict):
        raise SpecError(f"{source}: field {key!r} must be a mapping")
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise SpecError(f"{source}: {key}.{unknown[0]}: unknown key (known: {', '.join(sorted(allowed))})")
    for name, number in value.items():
        if name in _WORD_KEYS:
            continue
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number) or number <= 0:
            raise SpecError(f"{source}: {key}.{name}: must be a positive number, got {number!r}")
    return dict(value)


def _space_from_factory(ref: str) -> SearchSpace:
    module_name, _, attr = ref.partition(":")
    if os.getcwd() not in sys.path:  # like `python -m`: modules next to the user resolve
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # any import failure is the user's module, not ours
        raise SpaceError(f"cannot import {module_name!r} for {{baseline}} {ref}: "
                         f"{type(error).__name__}: {error}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise SpaceError(f"{module_name!r} has no callable {attr!r} (for {{baseline}} {ref})")
    resolution = getattr(factory, "resolution", 224)
    if not isinstance(resolution, int) or resolution < 1:
        raise SpaceError(f"{ref}: attribute 'resolution' must be a positive int, got {resolution!r}")
    return SearchSpace(name=ref, source=f"factory:{ref}", description=(factory.__doc__ or "").strip(),
                       factory=factory, factory_resolution=resolution)
