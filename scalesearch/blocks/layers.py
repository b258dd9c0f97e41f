"""The layers every block kind is made of: 'same' convolutions with BN and activation,
squeeze-excitation, stochastic depth, and the residual wrapper of the ResNet blocks.
"""

from __future__ import annotations

import torch
from torch import nn

ACTIVATION_LAYERS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "silu": nn.SiLU}


def make_activation(name: str | None) -> nn.Module:
    return ACTIVATION_LAYERS[name]() if name else nn.Identity()


class SameConv2d(nn.Conv2d):
    """A 'same'-padded convolution that, while training, skips the taps that only ever
    meet padding.

    At proxy resolutions the last stages run on 2 x 2 or 1 x 1 maps with 5 x 5 kernels: of
    a k x k kernel over an h x w map (stride 1, padding k // 2), only the central
    (2h - 1) x (2w - 1) taps ever touch a pixel, the rest multiply zeros.  Cropping them
    away gives the same outputs and the same gradients (the cropped taps' gradients are
    zero either way), at a fraction of the cost: a 5 x 5 depthwise conv on a 1 x 1 map
    becomes a per-channel scale.  In eval mode — and so in fvcore's trace, which counts
    the paper's multiply-adds — it is the plain convolution.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kh, kw = self.kernel_size
        h, w = x.shape[-2:]
        if not self.training or self.stride != (1, 1) or (h >= kh and w >= kw):
            return super().forward(x)
        rh, rw = min(kh // 2, h - 1), min(kw // 2, w - 1)
        ch, cw = kh // 2, kw // 2
        weight = self.weight[:, :, ch - rh:ch + rh + 1, cw - rw:cw + rw + 1]
        return nn.functional.conv2d(x, weight, self.bias, 1, (rh, rw), 1, self.groups)


class ConvBNAct(nn.Sequential):
    """Convolution without bias, batch norm, optional activation ('same' padding)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 activation: str | None = "relu", bn_eps: float = 1e-5):
        super().__init__(
            SameConv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout, eps=bn_eps),
            make_activation(activation),
        )


class SqueezeExcite(nn.Module):
    """Channel gating: pool, 1x1 reduce (+bias), act, 1x1 expand (+bias), sigmoid, scale."""

    def __init__(self, channels: int, squeeze: int, activation: str):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.act = make_activation(activation)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.expand(self.act(self.reduce(gate))))


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, rate: float):
        super().__init__()
        self.rate = rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
        return x * mask / keep


class Residual(nn.Module):
    """A residual body plus a projection shortcut when the shape changes, then the act."""

    def __init__(self, body: nn.Module, cin: int, cout: int, stride: int, activation: str,
                 bn_eps: float, drop_path: float):
        super().__init__()
        self.body = body
        self.shortcut = (ConvBNAct(cin, cout, 1, stride, activation=None, bn_eps=bn_eps)
                         if stride != 1 or cin != cout else nn.Identity())
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.act = make_activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.shortcut(x) + self.drop_path(self.body(x)))

    def last_bn(self) -> nn.BatchNorm2d:
        """The BN closing the residual branch."""
        return self.body[-1][1]
