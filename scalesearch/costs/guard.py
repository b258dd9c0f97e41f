"""A guard on size before anything is built: refuse a network this machine cannot hold.

`profile --width 1000` would allocate tens of gigabytes before the kernel's OOM killer
answered.  The analytic counts (models/complexity.py) say in microseconds what a network
needs: its parameters (with gradients and optimizer state when it trains) and its
activations (the outputs of every conv and linear layer, for a batch); a network whose
estimate exceeds the memory budget is refused with the estimate and the limit, in one
line, before a byte of it exists.

`check_spec` is the one entry every path that builds or runs a network goes through (a
Variant's build, cost and latency, training, export, the API); the count is O(stages),
so even a stage of 10^8 repeats is refused at once.

The budget defaults to half of this machine's RAM; `--max-memory` (or the environment
variable SCALESEARCH_MAX_MEMORY, in GB) changes it, and worker processes inherit it.
"""

from __future__ import annotations

import os

from typing import TYPE_CHECKING

from scalesearch.errors import UserError

if TYPE_CHECKING:
    from scalesearch.spec.netspec import NetSpec

ENV = "SCALESEARCH_MAX_MEMORY"
BYTES = 4  # fp32


def machine_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 16 * 2**30


def memory_budget() -> int:
    """Bytes one network may need: SCALESEARCH_MAX_MEMORY (GB), else half the RAM."""
    text = os.environ.get(ENV)
    if text:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise UserError(f"{{max_memory}} must be a positive number of GB, got {text!r}")
        return int(value * 2**30)
    return machine_memory() // 2


def set_memory_budget(gigabytes: float | None) -> None:
    """The CLI's --max-memory: for this process and the workers it starts."""
    if gigabytes is not None:
        if not gigabytes > 0:
            raise UserError(f"{{max_memory}} must be a positive number of GB, got {gigabytes}")
        os.environ[ENV] = str(gigabytes)


def estimate(params: int, activations: int, batch: int = 1, training: bool = False) -> int:
    """Bytes: weights (x3 when training: gradients, momentum), activations for `batch`
    (x2 when training: kept for the backward pass), a trace's own copy of them."""
    weights = params * BYTES * (3 if training else 1)
    return weights + activations * batch * BYTES * (2 if training else 1)


def check(what: str, params: int, activations: int, batch: int = 1, training: bool = False) -> None:
    """Refuse `what` when its estimate exceeds the budget (one line with both)."""
    need, limit = estimate(params, activations, batch, training), memory_budget()
    if need > limit:
        raise UserError(f"{what} would need about {need / 2**30:.1f} GB ({params / 1e6:,.0f}M parameters, "
                        f"{activations / 1e6:,.0f}M activations per image{f', batch {batch}' if batch > 1 else ''}"
                        f"), more than the {limit / 2**30:.1f} GB allowed; scale it down or raise {{max_memory}}")


def check_spec(what: str, spec: "NetSpec", batch: int = 1, training: bool = False) -> None:
    """Refuse building or running `spec` (at `batch`) when its analytic estimate is over budget."""
    from scalesearch.models.complexity import complexity

    c = complexity(spec)
    check(what, c.params, c.activations, batch, training)


INPUT_FACTOR = 16  # a convnet's activations per image are many times its input (ResNet-50's ~170x at 224 px)


def check_input(what: str, resolution: int, in_channels: int, batch: int = 1) -> None:
    """Refuse running a network with no spec (a factory's, any module) at an input whose
    activations cannot fit: counted as INPUT_FACTOR x the input, a bound from below, since
    nothing about the network itself is known before it runs."""
    check(what, 0, INPUT_FACTOR * in_channels * resolution * resolution, batch)
