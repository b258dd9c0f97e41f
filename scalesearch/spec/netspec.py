"""NetSpec: the one object that holds every number defining a network.

A spec is data, not a module: frozen dataclasses that round-trip through YAML and
validate with errors naming the offending field.  `scaling.py` turns a spec into a
scaled spec; `models.build_model` turns a spec into an `nn.Module`.

Stages are written as compact block strings, one per stage, e.g.
``mb_r2_k3_s2_e6_c24_se0.25``.  Grammar: a block kind followed by ``_``-separated
options, each a letter key and a number:

    kind   a registered block kind (scalesearch/blocks/): mb (MBConv + squeeze-excitation,
           EfficientNet), ir (inverted residual, MobileNetV2), ds (depthwise-separable,
           MobileNetV1), basic, bottleneck (ResNet residual blocks)
    r      repeats (blocks in the stage)          required
    k      kernel size                            default 3
    s      stride of the first block              default 1
    e      expansion (mb/ir: hidden = in·e; bottleneck: out = inner·e)   default 1
    c      output channels                        required
    se     squeeze-excitation ratio of the block's input channels      default 0
    a      activation override (relu, relu6, silu)                     default: the net's

A kind writes only the options it reads (ds and basic have no expansion), se and a only
when set.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from scalesearch.blocks import BLOCKS, block_names
from scalesearch.blocks.registry import ALL_KEYS
from scalesearch.errors import UserError
from scalesearch.files import read_text

ACTIVATIONS = ("relu", "relu6", "silu")
BN_MOMENTUM = 0.1  # torch's default; written to YAML (and hashed) only when a spec differs


class SpecError(UserError):
    """A spec or search-space file that does not describe a valid network."""


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class StageSpec:
    """A run of blocks of one kind and width; only the first may change resolution."""

    block: str
    repeats: int
    channels: int
    kernel: int = 3
    stride: int = 1
    expansion: float = 1.0
    se_ratio: float = 0.0
    activation: str | None = None

    @classmethod
    def parse(cls, text: str) -> "StageSpec":
        parts = str(text).strip().split("_")
        kind, options = parts[0], parts[1:]
        if kind not in BLOCKS:
            raise SpecError(f"block string {text!r}: unknown kind {kind!r} (known: {block_names()})")
        values: dict[str, Any] = {}
        keys = {"r": "repeats", "k": "kernel", "s": "stride", "e": "expansion", "c": "channels",
                "se": "se_ratio", "a": "activation"}
        for option in options:
            match = re.fullmatch(r"(se|[rksec]|a)(.+)", option)
            if not match or match.group(1) not in keys:
                raise SpecError(f"block string {text!r}: cannot read option {option!r}")
            key, raw = keys[match.group(1)], match.group(2)
            if key == "activation":
                values[key] = raw
                continue
            try:
                number = float(raw)
            except ValueError:
                raise SpecError(f"block string {text!r}: option {option!r} is not a number") from None
            values[key] = number if key in ("expansion", "se_ratio") else int(number)
        for required in ("repeats", "channels"):
            if required not in values:
                raise SpecError(f"block string {text!r}: missing {required} ({required[0]}N)")
        return cls(block=kind, **values)

    def encode(self) -> str:
        """The block string: the kind, then the options it reads (se and a only when set)."""
        options = {"r": self.repeats, "k": self.kernel, "s": self.stride, "e": _fmt_number(self.expansion),
                   "c": self.channels}
        if self.se_ratio:
            options["se"] = _fmt_number(self.se_ratio)
        if self.activation:
            options["a"] = self.activation
        keys = BLOCKS[self.block].keys if self.block in BLOCKS else ALL_KEYS
        return "_".join([self.block, *(f"{key}{value}" for key, value in options.items() if key in keys)])


@dataclass(frozen=True)
class StemSpec:
    """The first convolution (+BN+activation), optionally followed by a max-pool (ResNet)."""

    channels: int
    kernel: int = 3
    stride: int = 2
    pool: bool = False


@dataclass(frozen=True)
class HeadSpec:
    """A 1x1 conv to `channels` (0 = none), then global average pool, dropout and FC."""

    channels: int = 0


@dataclass(frozen=True)
class ScalingRules:
    """How multipliers become integers for this space (see scaling.py for each rule)."""

    channel_divisor: int = 8
    depth_rounding: str = "ceil"  # ceil | round
    resolution_divisor: int = 1
    scale_stem: bool = True
    scale_head: bool = True
    head_never_below_base: bool = False  # MobileNetV2 keeps 1280 for w < 1
    min_resolution_stride_cells: int = 1  # feature map at the last stage must be >= this


@dataclass(frozen=True)
class NetSpec:
    """Every number that defines a convnet, at one (depth, width, resolution)."""

    name: str
    stem: StemSpec
    stages: tuple[StageSpec, ...]
    head: HeadSpec = field(default_factory=HeadSpec)
    resolution: int = 224
    in_channels: int = 3
    num_classes: int = 1000
    activation: str = "relu"
    dropout: float = 0.0
    drop_path: float = 0.0
    bn_eps: float = 1e-5
    bn_momentum: float = BN_MOMENTUM  # torch's convention: running = (1 - m) * running + m * batch
    rules: ScalingRules = field(default_factory=ScalingRules)

    # -- derived facts ---------------------------------------------------------------
    @property
    def total_stride(self) -> int:
        stride = self.stem.stride * (2 if self.stem.pool else 1)
        for stage in self.stages:
            stride *= stage.stride
        return stride

    @property
    def depth(self) -> int:
        return sum(stage.repeats for stage in self.stages)

    def with_shape(self, *, resolution: int | None = None, in_channels: int | None = None,
                   num_classes: int | None = None) -> "NetSpec":
        """The same architecture for another input shape (deployment vs proxy)."""
        return replace(
            self,
            resolution=self.resolution if resolution is None else int(resolution),
            in_channels=self.in_channels if in_channels is None else int(in_channels),
            num_classes=self.num_classes if num_classes is None else int(num_classes),
        )

    def validate(self) -> "NetSpec":
        """Raise SpecError naming the first bad field; return self when valid."""
        def need(ok: bool, where: str, what: str) -> None:
            if not ok:
                raise SpecError(f"{self.name}: {where}: {what}")

        need(bool(self.stages), "stages", "at least one stage is required")
        need(self.activation in ACTIVATIONS, "activation", f"must be one of {', '.join(ACTIVATIONS)}")
        need(self.in_channels >= 1, "in_channels", "must be >= 1")
        need(self.num_classes >= 1, "num_classes", "must be >= 1")
        need(0 <= self.dropout < 1, "dropout", "must be in [0, 1)")
        need(0 <= self.drop_path < 1, "drop_path", "must be in [0, 1)")
        need(self.bn_eps > 0, "bn_eps", "must be > 0")
        need(0 < self.bn_momentum <= 1, "bn_momentum", "must be in (0, 1]")
        need(self.stem.channels >= 1, "stem.channels", "must be >= 1")
        need(self.stem.kernel >= 1 and self.stem.kernel % 2 == 1, "stem.kernel", "must be odd and >= 1")
        need(self.stem.stride in (1, 2), "stem.stride", "must be 1 or 2")
        need(self.head.channels >= 0, "head.channels", "must be >= 0")
        need(self.rules.depth_rounding in ("ceil", "round"), "rules.depth_rounding", "must be ceil or round")
        need(self.rules.channel_divisor >= 1, "rules.channel_divisor", "must be >= 1")
        need(self.rules.resolution_divisor >= 1, "rules.resolution_divisor", "must be >= 1")
        for i, stage in enumerate(self.stages):
            where = f"stages[{i}] ({stage.encode()})"
            need(stage.block in BLOCKS, where, f"block must be one of {block_names()}")
            need(stage.repeats >= 1, where, "repeats must be >= 1")
            need(stage.channels >= 1, where, "channels must be >= 1")
            need(stage.kernel >= 1 and stage.kernel % 2 == 1, where, "kernel must be odd and >= 1")
            need(stage.stride in (1, 2), where, "stride must be 1 or 2")
            need(stage.expansion > 0, where, "expansion must be > 0")
            need(0 <= stage.se_ratio <= 1, where, "se ratio must be in [0, 1]")
            need(stage.activation in (None, *ACTIVATIONS), where, f"activation must be one of {', '.join(ACTIVATIONS)}")
            problem = BLOCKS[stage.block].check(stage)
            need(not problem, where, problem)
        # With 'same' padding every stride rounds up, so any side reaches the last stage; below
        # half the total stride the last stages would run on 1 x 1 maps for several
        # strides in a row, which no longer describes the network (proxy shapes may
        # go that low after a cost correction: 27 px for a stride-32 net is fine).
        smallest = max(1, self.total_stride // 2)
        need(self.resolution >= smallest, "resolution",
             f"{self.resolution} px is too small for a total stride of {self.total_stride}; use >= {smallest}")
        return self

    # -- serialisation ---------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stages"] = [stage.encode() for stage in self.stages]
        if data["bn_momentum"] == BN_MOMENTUM:  # specs written before the field keep their hash
            del data["bn_momentum"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "spec") -> "NetSpec":
        if not isinstance(data, dict):
            raise SpecError(f"{source}: expected a mapping of network fields")
        _reject_unknown(cls, data, f"{source}:", "field")
        try:
            stages = data.get("stages")
            if not isinstance(stages, list):
                raise SpecError(f"{source}: field 'stages' must be a list of block strings")
            values = dict(data)
            values["stages"] = tuple(StageSpec.parse(s) for s in stages)
            values["stem"] = _sub(StemSpec, data.get("stem"), f"{source}: field 'stem'")
            values["head"] = _sub(HeadSpec, data.get("head", {}), f"{source}: field 'head'")
            values["rules"] = _sub(ScalingRules, data.get("rules", {}), f"{source}: field 'rules'")
            if "name" not in values:
                raise SpecError(f"{source}: field 'name' is required")
            spec = cls(**values)
        except SpecError as error:
            if str(error).startswith(source):
                raise
            raise SpecError(f"{source}: {error}") from None
        _check_types(spec, source)
        return spec

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def spec_hash(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _sub(kind: type, value: Any, where: str) -> Any:
    if value is None:
        raise SpecError(f"{where} is required")
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a mapping")
    _reject_unknown(kind, value, f"{where}:", "key")
    try:
        return kind(**value)
    except TypeError as error:
        raise SpecError(f"{where}: {error}") from None


def _reject_unknown(kind: type, value: dict, where: str, word: str) -> None:
    known = sorted(f.name for f in fields(kind))
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise SpecError(f"{where} unknown {word} {unknown[0]!r} (known: {', '.join(known)})")


def _check_types(spec: NetSpec, source: str) -> None:
    """YAML gives strings where numbers belong; name the field rather than crash later."""
    checks = [("resolution", spec.resolution, int), ("in_channels", spec.in_channels, int),
              ("num_classes", spec.num_classes, int), ("dropout", spec.dropout, (int, float)),
              ("drop_path", spec.drop_path, (int, float)), ("bn_eps", spec.bn_eps, (int, float)),
              ("bn_momentum", spec.bn_momentum, (int, float)),
              ("stem.channels", spec.stem.channels, int), ("stem.kernel", spec.stem.kernel, int),
              ("stem.stride", spec.stem.stride, int), ("head.channels", spec.head.channels, int),
              ("activation", spec.activation, str)]
    for name, value, kind in checks:
        if isinstance(value, bool) or not isinstance(value, kind) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise SpecError(f"{source}: field {name!r} has the wrong type ({value!r})")


def load_spec_yaml(path: Path) -> NetSpec:
    """Read a NetSpec from a YAML file (a bare spec, or a search space's `network:`)."""
    try:
        data = yaml.safe_load(read_text(path, "spec"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(f"{path}: not valid YAML{where}") from None
    if isinstance(data, dict) and "network" in data:
        data = data["network"]
    return NetSpec.from_dict(data, source=str(path)).validate()
