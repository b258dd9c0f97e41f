"""build_model: NetSpec -> nn.Module, reading every number off the spec (each stage's
blocks from its registered kind, scalesearch/blocks/)."""

from __future__ import annotations

import torch
from torch import nn

from scalesearch.blocks import BLOCKS
from scalesearch.blocks.layers import ConvBNAct
from scalesearch.spec.netspec import NetSpec

ZERO_INIT_RESIDUAL = True


class ConvNet(nn.Module):
    """stem -> stages -> head -> pool -> dropout -> classifier."""

    def __init__(self, spec: NetSpec):
        super().__init__()
        self.spec = spec
        stem = [ConvBNAct(spec.in_channels, spec.stem.channels, spec.stem.kernel, spec.stem.stride,
                          activation=spec.activation, bn_eps=spec.bn_eps)]
        if spec.stem.pool:
            stem.append(nn.MaxPool2d(3, 2, 1))
        self.stem = nn.Sequential(*stem)

        total_blocks, index = spec.depth, 0
        stages, cin = [], spec.stem.channels
        for stage in spec.stages:
            blocks = []
            for i in range(stage.repeats):
                # Stochastic depth grows linearly with block index, as in EfficientNet.
                rate = spec.drop_path * index / total_blocks
                blocks.append(BLOCKS[stage.block].build(stage, cin, stage.stride if i == 0 else 1,
                                                        stage.activation or spec.activation, spec.bn_eps, rate))
                cin, index = stage.channels, index + 1
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)

        if spec.head.channels:
            self.head = ConvBNAct(cin, spec.head.channels, 1, activation=spec.activation,
                                  bn_eps=spec.bn_eps)
            cin = spec.head.channels
        else:
            self.head = nn.Identity()
        self.dropout = nn.Dropout(spec.dropout) if spec.dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(cin, spec.num_classes)
        for module in self.modules():  # one spec field for every BN, rather than one argument per block
            if isinstance(module, nn.BatchNorm2d):
                module.momentum = spec.bn_momentum
        self._init_weights()

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)
        if ZERO_INIT_RESIDUAL:
            # Each residual block starts as the identity (Goyal et al. 2017): deep variants
            # then leave the early plateau within a short proxy budget instead of at chance.
            for module in self.modules():
                last = module.last_bn() if hasattr(module, "last_bn") else None
                if last is not None:
                    nn.init.zeros_(last.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.stages(self.stem(x)))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.classifier(self.dropout(x))


def build_model(spec: NetSpec) -> nn.Module:
    """A freshly initialised network for `spec` (validated first)."""
    return ConvNet(spec.validate())
