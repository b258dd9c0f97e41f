"""Latency: the median time of a forward pass, measured on the device it will run on."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


def measure_latency(model: nn.Module, in_channels: int, resolution: int,
                    device: torch.device | str = "cpu", repeats: int = 20) -> float:
    """Median forward time in milliseconds at batch 1 on `device` (after warm-up)."""
    device = torch.device(device)
    model = model.eval().to(device, memory_format=torch.channels_last)
    example = torch.zeros(1, in_channels, resolution, resolution, device=device)
    example = example.contiguous(memory_format=torch.channels_last)
    times = []
    with torch.inference_mode():
        for i in range(repeats + 3):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(example)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= 3:
                times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0
