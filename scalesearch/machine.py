"""What this machine is, and the on-disk cache of what was measured on it.

Timings (the faster memory format, workers x threads, latencies) hold for one machine:
the CPU model and the instruction sets oneDNN picks kernels by, and the torch version.
`cached(kind, parts, measure)` keys every measurement by those plus what the caller says
decides it, so a rerun reads instead of re-timing and another machine times afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import torch

# The instruction sets whose presence changes which kernels oneDNN runs.
_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "fma")


@lru_cache(maxsize=1)
def cpu_identity() -> dict[str, str]:
    """The CPU as the cache sees it: model name, family/model/stepping and the flags that matter."""
    fields = {"machine": platform.machine(), "model": platform.processor() or "unknown"}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return fields
    info: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key and key not in info:
            info[key] = value.strip()
        if not line.strip() and info:
            break  # the first processor is enough
    flags = set(info.get("flags", "").split())
    fields.update(model=info.get("model name", fields["model"]),
                  id=f"{info.get('cpu family', '?')}/{info.get('model', '?')}/{info.get('stepping', '?')}",
                  flags=",".join(f for f in _FLAGS if f in flags))
    return fields


def gpu_identity(device: str) -> str | None:
    """The GPU a 'cuda' device string names (model and compute capability), else None."""
    if not str(device).startswith("cuda") or not torch.cuda.is_available():
        return None
    index = torch.device(device).index or 0
    major, minor = torch.cuda.get_device_capability(index)
    return f"{torch.cuda.get_device_name(index)} (sm_{major}{minor}, CUDA {torch.version.cuda})"


def describe(device: str = "cpu") -> str:
    """One line naming the machine, for every report that prints a timing: the GPU too when
    the timing ran on one."""
    cpu = cpu_identity()
    text = f"{cpu.get('model')} ({cpu.get('flags') or 'no AVX2/AVX-512'}), torch {torch.__version__}"
    gpu = gpu_identity(device)
    return f"{gpu} with {text}" if gpu else text


def cache_path() -> Path:
    root = os.environ.get("SCALESEARCH_CACHE") or (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "scalesearch")
    return Path(root) / "measurements.json"


def cache_key(kind: str, **parts: Any) -> str:
    gpu = gpu_identity(str(parts.get("device", "cpu")))  # a GPU timing belongs to that GPU
    text = json.dumps({"kind": kind, "cpu": cpu_identity(), "torch": torch.__version__, **parts,
                       **({"gpu": gpu} if gpu else {})},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def read_cache() -> dict[str, Any]:
    try:
        data = json.loads(cache_path().read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}  # none yet, or a corrupt one: measure again and rewrite it


def write_cache(key: str, value: Any) -> None:
    from scalesearch.files import write_json

    data = read_cache()
    data[key] = value
    try:
        write_json(cache_path(), data)
    except OSError:
        pass  # no cache is slower, not wrong


def cached(kind: str, parts: dict[str, Any], measure: Callable[[], dict[str, Any]],
           valid: Callable[[Any], bool] = lambda value: isinstance(value, dict)) -> tuple[dict[str, Any], bool]:
    """(the measurement, whether it was measured now): from the cache when it holds one."""
    key = cache_key(kind, **parts)
    value = read_cache().get(key)
    if valid(value):
        return value, False
    value = measure()
    write_cache(key, value)
    return value, True
