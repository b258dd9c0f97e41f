"""Latency, measured honestly: how long one forward pass takes on the device it will run on.

- **Fixed conditions.**  A thread count (1 by default: the paper's CPU latencies were
  single-threaded), a batch size (1 by default), the deployment shape, eval mode, no
  autograd.  Every report says which.
- **The faster layout.**  channels_last wins for some networks on some CPUs and loses for
  others, so both memory formats are timed and the faster is kept (and named).
- **Repeated until it is steady.**  After a warm-up, forward passes are timed in rounds;
  the median and the interquartile spread are taken over all of them, and rounds stop
  when the spread is within `SPREAD` of the median (or the time budget is spent, and the
  spread says so).
- **Cached per machine.**  By network, shape, device, threads, batch, torch version and
  CPU (machine.py): a rerun does not re-time, another machine does.  A latency is
  labelled with the machine it was measured on.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from scalesearch.machine import cached, describe
from scalesearch.device import thread_count

FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
SPREAD = 0.05  # stop once (p75 - p25) / median is within this
MAX_SECONDS = 8.0  # per network, both formats included
WARMUP = 3
ROUND = 10


@dataclass(frozen=True)
class Latency:
    ms: float  # median milliseconds of one forward pass of `batch` images
    low_ms: float  # 25th percentile
    high_ms: float  # 75th percentile
    runs: int
    memory_format: str
    threads: int
    batch: int
    device: str
    machine: str
    measured: bool  # False: from the cache

    @property
    def spread(self) -> float:
        """Relative interquartile spread: how far two timings of this network may disagree."""
        return (self.high_ms - self.low_ms) / self.ms if self.ms else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spread": self.spread}


def _one_pass(model: nn.Module, example: torch.Tensor, device: torch.device) -> float:
    """Seconds of one forward pass, the device's queue drained before and after."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    model(example)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def _time(model: nn.Module, example: torch.Tensor, device: torch.device, seconds: float) -> list[float]:
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    with torch.inference_mode():
        for i in range(WARMUP + ROUND * 50):
            elapsed = _one_pass(model, example, device)
            if i >= WARMUP:
                times.append(elapsed)
            rounds_done = i >= WARMUP and (i - WARMUP + 1) % ROUND == 0
            if rounds_done and (_spread(times) <= SPREAD or time.perf_counter() > deadline):
                break
    return times


def _quartiles(times: list[float]) -> tuple[float, float, float]:
    if len(times) < 4:
        median = statistics.median(times)
        return min(times), median, max(times)
    q1, q2, q3 = statistics.quantiles(times, n=4)
    return q1, q2, q3


def _spread(times: list[float]) -> float:
    low, median, high = _quartiles(times)
    return (high - low) / median if median else 0.0


def measure_latency(model: nn.Module, in_channels: int, resolution: int, device: torch.device | str = "cpu",
                    threads: int = 1, batch: int = 1, key: str | None = None) -> Latency:
    """The latency of `model` on a batch x C x R x R input (see the module docstring).

    `key` names the network for the cache (a spec hash); None measures without caching.
    """
    device = torch.device(device)

    def run() -> dict[str, Any]:
        results = {}
        with thread_count(threads if device.type == "cpu" else None):
            for name, fmt in FORMATS.items():
                net = copy.deepcopy(model).eval().to(device, memory_format=fmt)
                example = torch.zeros(batch, in_channels, resolution, resolution, device=device)
                results[name] = _time(net, example.contiguous(memory_format=fmt), device, MAX_SECONDS / 2)
        best = min(results, key=lambda name: _quartiles(results[name])[1])
        low, median, high = _quartiles(results[best])
        return {"ms": median * 1e3, "low_ms": low * 1e3, "high_ms": high * 1e3, "runs": len(results[best]),
                "memory_format": best}

    parts = {"network": key, "shape": [in_channels, resolution, resolution], "device": str(device),
             "threads": threads, "batch": batch}
    if key is None:
        value, measured = run(), True
    else:
        value, measured = cached("latency", parts, run, lambda v: isinstance(v, dict) and "ms" in v)
    return Latency(value["ms"], value["low_ms"], value["high_ms"], value["runs"], value["memory_format"],
                   threads, batch, str(device), describe(str(device)), measured)


# -- timings side by side, for a choice between networks (stats/tie_break.py) ------------------

ROUNDS = 15  # interleaved rounds: a t interval on the mean log ratio, 14 df
PASSES = 3  # forward passes per network per round; the round's time is their median
SIDE_BY_SIDE_SECONDS = 60.0  # at most, all networks together; fewer rounds (at least 4) past it


def side_by_side(models: list[tuple[nn.Module, torch.Tensor]], device: torch.device | str = "cpu",
                 threads: int = 1, rounds: int = ROUNDS, passes: int = PASSES) -> list[list[float]]:
    """Seconds per forward pass of every model, round by round (models x rounds).

    Round r times every model in turn, in an order rotated each round, so a machine that
    slows down (another job, a warming CPU) slows every model alike in that round: the
    per-round ratios carry the networks' difference, not the machine's drift -- timings
    taken minutes apart cannot tell a 2 % difference on a shared machine.  Each model runs
    in the memory format its own latency chose (`measure_latency`) when the caller built it so.
    """
    device = torch.device(device)
    times: list[list[float]] = [[] for _ in models]
    deadline = time.perf_counter() + SIDE_BY_SIDE_SECONDS
    with thread_count(threads if device.type == "cpu" else None), torch.inference_mode():
        nets = [(model.eval().to(device), example.to(device)) for model, example in models]
        for net, example in nets:
            for _ in range(WARMUP):
                net(example)
        for r in range(rounds):
            if r >= 4 and time.perf_counter() > deadline:
                break
            order = list(range(len(nets)))
            order = order[r % len(order):] + order[:r % len(order)]
            for i in order:
                net, example = nets[i]
                times[i].append(statistics.median(_one_pass(net, example, device) for _ in range(passes)))
    return times
