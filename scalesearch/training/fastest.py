"""The fastest way to train one network on this machine: measured, then chosen.

(Speed only: nothing here changes what a training computes — no hyperparameter is chosen.)

What is fast depends on the CPU and the model: channels_last gave EfficientNet-B0 2.7x
over NCHW on an AVX-512 Xeon and 1.3x on an AVX2 EPYC, where it slowed the backward of
small depthwise convs; ResNet-18's dense convs barely care (reference.md).  So before a
training starts, `choose_memory_format` times a few steps of the network in each memory format
and keeps the faster (in ABBA order, each format's fastest step: a core taken by another
process for a moment slows some steps of one format, not its best one, and the order cancels
a drift; a single round once put a format at a third of its speed on a shared machine),
and `choose_workers` times one process with every core against as
many one-thread processes at once (their images per second added up).  Both are cached
on disk by everything that decides the answer — the network (spec hash) and its input
shape, the batch, the device, the threads, the CPU (model and instruction-set flags)
and the torch version — so a grid measures once per point shape, a rerun not at all,
and another machine measures afresh.
"""

from __future__ import annotations

import copy
import hashlib
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
from torch import nn

from scalesearch.machine import cached
from scalesearch.device import thread_count
from scalesearch.training.step import WARMUP_STEPS, make_step

FORMATS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}
ABBA = ("channels_last", "contiguous", "contiguous", "channels_last")  # the order formats are timed in
METHOD = "abba-fastest-step"  # in the cache key: a change of method measures again


@dataclass(frozen=True)
class MemoryFormatChoice:
    """The memory format a network trains fastest in here, and what each format measured."""

    memory_format: str  # a FORMATS key
    rates: dict[str, float]  # images/s each format trained at when measured
    measured: bool  # False: read from the cache

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def why(self) -> str:
        rates = ", ".join(f"{name} {rate:.0f} img/s" for name, rate in self.rates.items())
        return f"{self.memory_format} ({rates}; {'measured now' if self.measured else 'cached'})"


def network_key(model: nn.Module) -> str:
    """The spec hash of a built-in network; its shapes and modules for anything else."""
    spec = getattr(model, "spec", None)
    if spec is not None and hasattr(spec, "spec_hash"):
        return spec.spec_hash()
    text = repr(model) + repr([tuple(p.shape) for p in model.parameters()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def images_per_second(model: nn.Module, shape: tuple[int, int, int], num_classes: int, batch_size: int,
                      memory_format: torch.memory_format, device: torch.device,
                      warmup: int = 2, steps: int = 3) -> float:
    """Training images per second of a copy of `model` at its fastest timed step (SGD steps
    on random data, run as the loop runs them: eager on a CPU, a replayed CUDA graph where one
    can be captured; the model, its RNG and torch's global RNG are left as they were)."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        net = copy.deepcopy(model).to(device, memory_format=memory_format).train()
        x = torch.randn(batch_size, *shape, device=device).contiguous(memory_format=memory_format)
        y = torch.randint(0, num_classes, (batch_size,), device=device)
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, fused=device.type == "cuda" or None)
        step = make_step(net, optimizer, device)
        warmup += WARMUP_STEPS + 1 if device.type == "cuda" else 0  # the eager steps and the capture
        times = []
        for i in range(warmup + steps):
            start = time.perf_counter()
            step(x, y, 0.01)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= warmup:
                times.append(time.perf_counter() - start)
    return batch_size / min(times)


def choose_memory_format(model: nn.Module, shape: tuple[int, int, int], num_classes: int, batch_size: int,
                         device: torch.device, threads: int,
                         measure: Callable[..., float] = images_per_second) -> MemoryFormatChoice:
    """The faster memory format for training `model` here (cached; see the module docstring).

    On CUDA too: channels_last is what tensor cores want, but at proxy sizes a step may be
    bound by something else."""
    def run() -> dict[str, Any]:
        probe = min(batch_size, 64)  # a smaller batch ranks the formats the same, in half the time
        rates = dict.fromkeys(FORMATS, 0.0)
        with thread_count(threads):
            for name in ABBA:
                rates[name] = max(rates[name], measure(model, shape, num_classes, probe, FORMATS[name], device))
        return {"memory_format": max(rates, key=rates.get), "rates": rates}

    value, measured = cached("layout", {"method": METHOD, "network": network_key(model), "shape": list(shape),
                                        "classes": num_classes, "batch": batch_size, "device": str(device),
                                        "threads": threads}, run,
                             lambda v: isinstance(v, dict) and v.get("memory_format") in FORMATS)
    return MemoryFormatChoice(value["memory_format"], dict(value.get("rates", {})), measured)


# -- workers x threads -------------------------------------------------------------------------

@dataclass(frozen=True)
class WorkerChoice:
    """How this host's cores train fastest: how many worker processes, how many threads each."""

    workers: int
    threads: int  # per worker
    rates: dict[str, float]  # aggregate images/s of each split tried ("1x2", "2x1", ...)
    measured: bool

    @property
    def why(self) -> str:
        rates = ", ".join(f"{name} {rate:.0f} img/s" for name, rate in self.rates.items())
        return (f"{self.workers} worker(s) x {self.threads} thread(s) ({rates} in all; "
                f"{'measured now' if self.measured else 'cached'})")


def choose_workers(model: nn.Module, shape: tuple[int, int, int], num_classes: int, batch_size: int,
                   cores: int, memory_format: str = "channels_last",
                   measure: Callable[[int, int], float] | None = None) -> WorkerChoice:
    """One process with every core, or one single-thread process per core, whichever trains
    more images per second in all on this machine (cached).  Small proxy networks scale
    poorly across intra-op threads, so the second often wins; dense ones may not."""
    if cores <= 1:
        return WorkerChoice(1, 1, {}, False)
    measure = measure or (lambda workers, threads: _concurrent_rate(model, shape, num_classes, batch_size,
                                                                    memory_format, workers, threads))
    options = {f"1x{cores}": (1, cores), f"{cores}x1": (cores, 1)}

    def run() -> dict[str, Any]:
        rates = {name: measure(*split) for name, split in options.items()}
        workers, threads = options[max(rates, key=rates.get)]
        return {"workers": workers, "threads": threads, "rates": rates}

    value, measured = cached("workers", {"network": network_key(model), "shape": list(shape),
                                         "classes": num_classes, "batch": batch_size, "cores": cores,
                                         "memory_format": memory_format}, run,
                             lambda v: isinstance(v, dict) and bool(v.get("workers")))
    return WorkerChoice(int(value["workers"]), int(value["threads"]), dict(value.get("rates", {})), measured)


def _concurrent_rate(model: nn.Module, shape, num_classes: int, batch_size: int, memory_format: str,
                     workers: int, threads: int) -> float:
    """Images per second in all of `workers` processes training at once, `threads` each."""
    import multiprocessing

    if workers == 1:
        with thread_count(threads):
            return images_per_second(model, shape, num_classes, batch_size, FORMATS[memory_format],
                                     torch.device("cpu"), steps=6)
    context = multiprocessing.get_context("spawn")
    results, start = context.Queue(), context.Barrier(workers)
    children = [context.Process(target=_rate_worker, daemon=True,
                                args=(model, shape, num_classes, batch_size, memory_format, threads, start, results))
                for _ in range(workers)]
    for child in children:
        child.start()
    try:
        return sum(results.get(timeout=300) for _ in children)
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()


def _rate_worker(model, shape, num_classes, batch_size, memory_format, threads, start, results) -> None:
    torch.set_num_threads(threads)
    # Warm up alone, then time together: what counts is the rate while they share the machine.
    images_per_second(model, shape, num_classes, batch_size, FORMATS[memory_format], torch.device("cpu"),
                      warmup=1, steps=1)
    start.wait()
    results.put(images_per_second(model, shape, num_classes, batch_size, FORMATS[memory_format],
                                  torch.device("cpu"), warmup=1, steps=6))
