"""Batches at any resolution: the splits resized once per (data, px, device) and cached,
random crops and flips as whole-batch tensor ops, normalisation to channels_last floats.

No DataLoader and no worker processes: on two cores a per-sample Python pipeline costs
more than the network (reference.md, "Proxy training").
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
import torch.nn.functional as F

from scalesearch.training.data import DataError, ImageData


@dataclass(frozen=True, eq=False)
class ResizedData:
    """The splits at one resolution on one device (uint8), plus normalisation constants."""

    resolution: int
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: torch.Tensor  # 1 x C x 1 x 1, in 0..255 units so uint8 need not be scaled first
    std: torch.Tensor
    hflip: bool


def resized(data: ImageData, resolution: int, device: str | torch.device = "cpu") -> ResizedData:
    """`data` at `resolution` px on `device`, resized once per (data, px, device) and cached."""
    if resolution < 1:
        raise DataError(f"{{resolution}} must be a positive number of pixels, got {resolution}")
    return _resized_cached(data, int(resolution), str(torch.device(device)))


@lru_cache(maxsize=6)
def _resized_cached(data: ImageData, resolution: int, device: str) -> ResizedData:
    def move(x: torch.Tensor) -> torch.Tensor:
        x = resize_images(x, resolution)
        # Pinned memory makes the one host -> GPU copy fast; the data then stays there.
        return (x.pin_memory() if device.startswith("cuda") else x).to(device)

    mean = torch.tensor(data.mean).view(1, -1, 1, 1) * 255
    std = torch.tensor(data.std).view(1, -1, 1, 1) * 255
    return ResizedData(resolution, move(data.train_x), data.train_y.to(device), move(data.val_x),
                       data.val_y.to(device), move(data.test_x), data.test_y.to(device),
                       mean.to(device), std.to(device), data.hflip)


def resize_images(x: torch.Tensor, resolution: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 N x C x H x W -> uint8 N x C x R x R, bilinear with antialiasing, in chunks."""
    if x.shape[-1] == resolution and x.shape[-2] == resolution:
        return x.contiguous()
    out = torch.empty(x.shape[0], x.shape[1], resolution, resolution, dtype=torch.uint8)
    for start in range(0, x.shape[0], chunk):  # chunks bound the float copy's memory
        part = x[start:start + chunk].float()
        part = F.interpolate(part, size=(resolution, resolution), mode="bilinear",
                             align_corners=False, antialias=True)
        out[start:start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


@dataclass(frozen=True)
class Draws:
    """One batch's random augmentation, independent of the resolution and the network.

    Crop offsets are drawn as fractions in [0, 1) and scaled by each resolution's padding,
    so seed s gives every network the same crops (relative to its image) and flips, and
    the generator advances by the same amount whatever the network: the common random
    numbers that make two points' accuracies on one seed comparable.
    """

    dy: torch.Tensor  # n fractions of the crop range
    dx: torch.Tensor
    flip: torch.Tensor  # n booleans (all False for data that must not be mirrored)


def draw_augmentation(n: int, generator: torch.Generator, hflip: bool) -> Draws:
    dy = torch.rand(n, generator=generator)
    dx = torch.rand(n, generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    return Draws(dy, dx, flip if hflip else torch.zeros(n, dtype=torch.bool))


def augment(x: torch.Tensor, draws: Draws, pad: int) -> torch.Tensor:
    """Random crop after zero-padding by `pad` px, and a mirror where `draws.flip`.

    Whole-batch tensor ops on uint8: one gather per batch instead of a Python call per
    image.  The draws come from a CPU generator so runs are reproducible on any device.
    """
    n, _, h, w = x.shape
    if pad > 0:
        padded = F.pad(x, (pad, pad, pad, pad))
        span = 2 * pad + 1
        dy = (draws.dy * span).long().clamp_max(span - 1).to(x.device)
        dx = (draws.dx * span).long().clamp_max(span - 1).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None, None]
        channel = torch.arange(x.shape[1], device=x.device)[None, :, None, None]
        x = padded[batch, channel, rows, cols]
    if bool(draws.flip.any()):
        flip = draws.flip.to(x.device)[:, None, None, None]
        x = torch.where(flip, x.flip(3), x)
    return x


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor,
              memory_format: torch.memory_format = torch.channels_last) -> torch.Tensor:
    """uint8 -> float32, standardised per channel, in the memory format the network trains in."""
    x = x.contiguous(memory_format=memory_format).float()
    return x.sub_(mean).div_(std)
