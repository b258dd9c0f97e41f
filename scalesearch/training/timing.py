"""How long training will take: a few timed steps, scaled to the work ahead.

One estimator serves every command that trains many networks (grid, compare, ...):
time a few training steps of the costliest network, turn that into seconds per
multiply-add, and scale by each network's multiply-adds and images.  Small networks are
partly memory-bound, so this is a guide that a progress bar's ETA corrects as work
finishes, not a promise.
"""

from __future__ import annotations

import statistics
import time
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from scalesearch.training.budget import ProxyBudget
from scalesearch.device import thread_count


def seconds_per_image(model: nn.Module, in_channels: int, resolution: int, num_classes: int,
                      batch_size: int, threads: int | None = None, warmup: int = 2,
                      steps: int = 3) -> float:
    """Median seconds of one training image through `model` (CPU, channels_last, fp32).

    The first `warmup` steps pay oneDNN's one-off set-up and are not timed; the median
    keeps one step stalled by another process from scaling the whole estimate.
    """
    model = model.train().to(memory_format=torch.channels_last)
    x = torch.randn(batch_size, in_channels, resolution, resolution).contiguous(
        memory_format=torch.channels_last)
    y = torch.randint(0, num_classes, (batch_size,))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    times = []
    with thread_count(threads):
        for i in range(warmup + steps):
            start = time.perf_counter()
            optimizer.zero_grad()
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return statistics.median(times) / batch_size


def estimate_seconds(networks: Sequence, budget: ProxyBudget, train_images: int, val_images: int,
                     test_images: int, threads: int | None = None) -> list[float]:
    """Seconds each of `networks` (Variants at the proxy shape) should take to train.

    The costliest one is timed (its steps are the ones that dominate), then every network
    is scaled by its multiply-adds.  Evaluation is a forward pass only: about a third of
    a training step's arithmetic.
    """
    if not networks:
        return []
    macs = [n.macs() for n in networks]
    probe = networks[max(range(len(networks)), key=macs.__getitem__)]
    per_image = seconds_per_image(probe.build(), probe.in_channels, probe.resolution,
                                  probe.num_classes, min(budget.batch_size, 32), threads)
    per_mac = per_image / max(1, max(macs))
    images = budget.epochs * (train_images + val_images / 3) + test_images / 3
    return [per_mac * m * images for m in macs]
