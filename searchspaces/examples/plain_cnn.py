"""An example Python-factory baseline for `--baseline plain_cnn:plain_cnn`.

A factory is any callable `factory(depth, width, num_classes, in_channels) -> nn.Module`;
scalesearch scales the resolution itself and passes the depth and width multipliers.
The resolution the network was designed for is the attribute `factory.resolution`.
Run it with:  PYTHONPATH=searchspaces/examples scalesearch profile --baseline plain_cnn:plain_cnn
"""

import math

from torch import nn


def plain_cnn(depth: float, width: float, num_classes: int, in_channels: int) -> nn.Module:
    """A VGG-like stack: three stages of 3x3 conv + BN + ReLU, each ending in a max-pool."""
    layers, cin = [], in_channels
    for base_channels, base_repeats in ((32, 2), (64, 2), (128, 2)):
        cout = max(8, int(base_channels * width + 4) // 8 * 8)
        for _ in range(max(1, math.ceil(base_repeats * depth))):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        layers.append(nn.MaxPool2d(2))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


plain_cnn.resolution = 32
