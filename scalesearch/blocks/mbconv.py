"""MBConv (EfficientNet, kind `mb`) and the inverted residual (MobileNetV2, kind `ir`):
one module, its analytic count, registered under both names.

A block kind is written like this one: the module, a `build` that reads its numbers off a
stage, a `count` that adds the same layers to a Complexity, and a `register_block` call.
"""

from __future__ import annotations

import torch
from torch import nn

from scalesearch.blocks.count import Complexity, out_side
from scalesearch.blocks.layers import ConvBNAct, DropPath, SqueezeExcite
from scalesearch.blocks.registry import BlockKind, register_block


class InvertedResidual(nn.Module):
    """MBConv: optional 1x1 expand, depthwise kxk, optional SE, 1x1 linear projection.

    With se_ratio > 0 this is EfficientNet's MBConv (squeeze = ratio x block input
    channels); with se_ratio = 0 it is MobileNetV2's inverted residual.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expansion: float,
                 se_ratio: float, activation: str, bn_eps: float, drop_path: float):
        super().__init__()
        hidden = int(round(cin * expansion))
        layers: list[nn.Module] = []
        if hidden != cin:
            layers.append(ConvBNAct(cin, hidden, 1, activation=activation, bn_eps=bn_eps))
        layers.append(ConvBNAct(hidden, hidden, kernel, stride, groups=hidden,
                                activation=activation, bn_eps=bn_eps))
        if se_ratio > 0:
            layers.append(SqueezeExcite(hidden, max(1, int(cin * se_ratio)), activation))
        layers.append(ConvBNAct(hidden, cout, 1, activation=None, bn_eps=bn_eps))
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout
        self.drop_path = DropPath(drop_path) if self.residual and drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + self.drop_path(out) if self.residual else out

    def last_bn(self) -> nn.BatchNorm2d | None:
        """The BN closing the residual branch (None without a residual connection)."""
        return self.body[-1][1] if self.residual else None


def build(stage, cin: int, stride: int, activation: str, bn_eps: float, drop_path: float) -> nn.Module:
    return InvertedResidual(cin, stage.channels, stage.kernel, stride, stage.expansion, stage.se_ratio,
                            activation, bn_eps, drop_path)


def count(stage, cin: int, side: int, stride: int, into: Complexity) -> int:
    out = out_side(side, stride)
    hidden = int(round(cin * stage.expansion))
    if hidden != cin:
        into.conv(side, cin, hidden)
    into.conv(out, hidden, hidden, stage.kernel, groups=hidden)
    if stage.se_ratio > 0:
        squeeze = max(1, int(cin * stage.se_ratio))
        into.conv(1, hidden, squeeze, bn=False, bias=True)  # on the pooled 1x1 map
        into.conv(1, squeeze, hidden, bn=False, bias=True)
    into.conv(out, hidden, stage.channels)
    return out


register_block(BlockKind("mb", build, count))
register_block(BlockKind("ir", build, count))
