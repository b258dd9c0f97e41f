"""The ResNet residual blocks: basic (kind `basic`, ResNet-18/34) and bottleneck (kind
`bottleneck`, ResNet-50), each module with its count and width rule, registered."""

from __future__ import annotations

from typing import Callable

from torch import nn

from scalesearch.blocks.count import Complexity, out_side
from scalesearch.blocks.layers import ConvBNAct, Residual
from scalesearch.blocks.registry import BlockKind, register_block


class BasicBlock(Residual):
    """ResNet-18/34 block: two kxk convolutions."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, activation: str,
                 bn_eps: float, drop_path: float):
        body = nn.Sequential(
            ConvBNAct(cin, cout, kernel, stride, activation=activation, bn_eps=bn_eps),
            ConvBNAct(cout, cout, kernel, activation=None, bn_eps=bn_eps),
        )
        super().__init__(body, cin, cout, stride, activation, bn_eps, drop_path)


class Bottleneck(Residual):
    """ResNet-50 block: 1x1 reduce to cout/e, kxk (carrying the stride), 1x1 expand to cout."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: float,
                 activation: str, bn_eps: float, drop_path: float):
        inner = int(cout // expansion)
        body = nn.Sequential(
            ConvBNAct(cin, inner, 1, activation=activation, bn_eps=bn_eps),
            ConvBNAct(inner, inner, kernel, stride, activation=activation, bn_eps=bn_eps),
            ConvBNAct(inner, cout, 1, activation=None, bn_eps=bn_eps),
        )
        super().__init__(body, cin, cout, stride, activation, bn_eps, drop_path)


def _count_shortcut(cin: int, cout: int, out: int, stride: int, into: Complexity) -> None:
    if stride != 1 or cin != cout:
        into.conv(out, cin, cout)  # projection shortcut


def build_basic(stage, cin: int, stride: int, activation: str, bn_eps: float, drop_path: float) -> nn.Module:
    return BasicBlock(cin, stage.channels, stage.kernel, stride, activation, bn_eps, drop_path)


def count_basic(stage, cin: int, side: int, stride: int, into: Complexity) -> int:
    cout, out = stage.channels, out_side(side, stride)
    _count_shortcut(cin, cout, out, stride, into)
    into.conv(out, cin, cout, stage.kernel)
    into.conv(out, cout, cout, stage.kernel)
    return out


def build_bottleneck(stage, cin: int, stride: int, activation: str, bn_eps: float, drop_path: float) -> nn.Module:
    return Bottleneck(cin, stage.channels, stage.kernel, stride, stage.expansion, activation, bn_eps, drop_path)


def count_bottleneck(stage, cin: int, side: int, stride: int, into: Complexity) -> int:
    cout, out = stage.channels, out_side(side, stride)
    _count_shortcut(cin, cout, out, stride, into)
    inner = int(cout // stage.expansion)
    into.conv(side, cin, inner)
    into.conv(out, inner, inner, stage.kernel)
    into.conv(out, inner, cout)
    return out


def scale_inner(stage, width: float, round_channels: Callable[[float], int]) -> int:
    """Scale the inner (bottleneck) width; the output stays inner x expansion."""
    inner = round_channels(stage.channels / stage.expansion * width)
    return int(inner * stage.expansion)


def check_bottleneck(stage) -> str:
    return "" if stage.channels % stage.expansion == 0 else "channels must be a multiple of the expansion"


register_block(BlockKind("basic", build_basic, count_basic, keys=("r", "k", "s", "c", "se", "a")))
register_block(BlockKind("bottleneck", build_bottleneck, count_bottleneck, width=scale_inner,
                         check=check_bottleneck))
