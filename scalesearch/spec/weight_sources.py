"""Where reference weights come from, as data: the conventions each source's models use.

Our built-in baselines are layer-for-layer those of torchvision and timm; only a few
numbers that no weight tensor carries differ.  A source's entry says, per baseline family
(matched by the start of the spec's name, so members such as `efficientnet-b0-phi1`
match too), which NetSpec fields to set so that a state_dict from that source gives the
reference's outputs.  `--weights-from SOURCE` applies it; nothing else branches on it.

What each entry is read from:
- torchvision: efficientnet.py builds B0..B4 with torch's BN defaults (eps 1e-5,
  momentum 0.1; only B5..B7 pass eps=1e-3, momentum=0.01, and EfficientNetV2 eps=1e-3:
  read in torchvision 0.29.1, and checked against tests/fixtures/weight_orders);
  resnet.py and mobilenetv2.py use torch's defaults too.  torchvision has no MobileNetV1.
- timm: efficientnet_* and resnet* use torch's BN defaults (eps 1e-5); mobilenetv1_*
  (timm's MobileNetV1, from gen-efficientnet) runs ReLU6 where ours runs ReLU.
- tf (TensorFlow checkpoints, timm's `tf_` models): BN eps 1e-3, momentum 0.01 (Keras'
  0.99 decay) and TF "same" padding, which pads stride-2 convolutions one pixel more on the
  bottom/right.  NetSpec has no padding field (every conv pads k // 2 on each side), so
  this source is refused rather than giving outputs that differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from scalesearch.errors import UserError
from scalesearch.spec.netspec import NetSpec

if TYPE_CHECKING:
    from scalesearch.spec.spaces import SearchSpace


@dataclass(frozen=True)
class WeightSource:
    """The NetSpec fields a source's weights need, per baseline family (a name prefix)."""

    name: str
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    unsupported: str = ""  # why this source's outputs cannot be reproduced yet ("" = they can)


WEIGHT_SOURCES = {
    "torchvision": WeightSource("torchvision", {
        "efficientnet": {"bn_eps": 1e-5, "bn_momentum": 0.1},
        "resnet": {"bn_eps": 1e-5, "bn_momentum": 0.1},
        "mobilenetv2": {"bn_eps": 1e-5, "bn_momentum": 0.1, "activation": "relu6"},
    }),
    "timm": WeightSource("timm", {
        "efficientnet": {"bn_eps": 1e-5, "bn_momentum": 0.1},
        "resnet": {"bn_eps": 1e-5, "bn_momentum": 0.1},
        "mobilenetv2": {"bn_eps": 1e-5, "bn_momentum": 0.1, "activation": "relu6"},
        "mobilenetv1": {"bn_eps": 1e-5, "bn_momentum": 0.1, "activation": "relu6"},
    }),
    "tf": WeightSource("tf", {
        "efficientnet": {"bn_eps": 1e-3, "bn_momentum": 0.01},
    }, unsupported="TF 'same' padding (one more pixel bottom/right on stride-2 convs) is not a "
                   "NetSpec field yet; every conv here pads k // 2 on each side"),
}


def weight_source(name: str) -> WeightSource:
    """The source named `name`, or one line listing the known ones."""
    if name not in WEIGHT_SOURCES:
        raise UserError(f"{{weights_from}} {name!r}: unknown; known: {', '.join(WEIGHT_SOURCES)}")
    return WEIGHT_SOURCES[name]


def apply_weight_source(spec: NetSpec, name: str) -> NetSpec:
    """`spec` with the fields source `name` uses for its family; one line when it cannot."""
    source = weight_source(name)
    if source.unsupported:
        raise UserError(f"{{weights_from}} {name}: cannot reproduce its outputs: {source.unsupported}")
    for prefix, values in source.overrides.items():
        if spec.name.startswith(prefix):
            return replace(spec, **values).validate()
    raise UserError(f"{{weights_from}} {name}: no convention known for {spec.name!r} "
                    f"(known: {', '.join(source.overrides)}); set bn_eps / bn_momentum / activation "
                    "in the spec's YAML instead")


def with_weight_source(space: "SearchSpace", name: str | None) -> "SearchSpace":
    """`space` whose network takes source `name`'s conventions (None: `space` as it is);
    a factory baseline has no spec to set them on, and is refused in one line."""
    if name is None:
        return space
    if space.network is None:
        raise UserError(f"{{weights_from}} needs a spec baseline; {space.name} is a factory")
    return replace(space, network=apply_weight_source(space.network, name))
