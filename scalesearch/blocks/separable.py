"""The depthwise-separable block of MobileNetV1 (kind `ds`): module, count, registration."""

from __future__ import annotations

from torch import nn

from scalesearch.blocks.count import Complexity, out_side
from scalesearch.blocks.layers import ConvBNAct
from scalesearch.blocks.registry import BlockKind, register_block


class DepthwiseSeparable(nn.Sequential):
    """MobileNetV1's block: depthwise kxk + BN + act, pointwise 1x1 + BN + act."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, activation: str, bn_eps: float):
        super().__init__(
            ConvBNAct(cin, cin, kernel, stride, groups=cin, activation=activation, bn_eps=bn_eps),
            ConvBNAct(cin, cout, 1, activation=activation, bn_eps=bn_eps),
        )


def build(stage, cin: int, stride: int, activation: str, bn_eps: float, drop_path: float) -> nn.Module:
    return DepthwiseSeparable(cin, stage.channels, stage.kernel, stride, activation, bn_eps)


def count(stage, cin: int, side: int, stride: int, into: Complexity) -> int:
    out = out_side(side, stride)
    into.conv(out, cin, cin, stage.kernel, groups=cin)
    into.conv(out, cin, stage.channels)
    return out


register_block(BlockKind("ds", build, count, keys=("r", "k", "s", "c", "se", "a")))
