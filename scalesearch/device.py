"""Where a training runs: the device, the cores this process may use, its thread count,
and autocast."""

from __future__ import annotations

import os
from contextlib import contextmanager, nullcontext
from typing import Iterator

import torch

from scalesearch.errors import UserError

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device: str, setting: str = "device") -> torch.device:
    """'auto' -> cuda when available, else cpu; 'cuda' without a GPU is the user's error
    (named as `setting`, the option that asked for it)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{{{setting}}} cuda: no CUDA device is available here; use cpu or auto")
    if device not in ("cpu", "cuda"):
        raise UserError(f"{{{setting}}} must be cpu, cuda or auto, got {device!r}")
    return torch.device(device)


def available_cores() -> int:
    """Cores this process may run on (affinity, e.g. taskset or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def check_threads(threads: int | None) -> None:
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise UserError(f"{{threads}} must be >= 1, got {threads}")


@contextmanager
def thread_count(threads: int | None) -> Iterator[int]:
    """Run with `threads` intra-op threads (default: the available cores), then restore.

    More threads than free cores collapses throughput 2-4x (reference.md), and torch's
    default counts the machine's cores, not this process's.
    """
    check_threads(threads)
    before = torch.get_num_threads()
    wanted = threads if threads is not None else available_cores()
    torch.set_num_threads(wanted)
    try:
        yield wanted
    finally:
        torch.set_num_threads(before)


def autocast(device: torch.device, cache: bool = True):
    """bf16 autocast on CUDA (on CPUs without AVX512_BF16/AMX it is slower than fp32).

    `cache=False` while a CUDA graph records: a cached bf16 copy of a weight would be
    stale when the graph is replayed after the weight changed."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, cache_enabled=cache)
    return nullcontext()
