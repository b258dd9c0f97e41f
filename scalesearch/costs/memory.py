"""Training memory: the bytes one SGD step keeps alive, measured on the network itself.

EfficientNets need more training memory than ResNets of more parameters: what a step
holds is mostly the activations autograd keeps for the backward, not the weights.  So
the cost is measured, not modelled: one training-mode forward pass under
`torch.autograd.graph.saved_tensors_hooks` records every tensor autograd saves (each
storage once, the weights' own left out), at batch 2 (batch-norm needs two images to
train) and halved to one image's.  At batch B:

    memory = B x saved bytes per image + 3 x weight bytes

(the weights, their gradients and SGD's momentum buffers).  The same shapes give the same
bytes on every machine, so it is a cost a run elsewhere can recompute.  It leaves out what
lives only for an instant (an operator's workspace, the gradient of one layer's input while
the next is computed) and the allocator's slack: a device's own peak (CUDA's
`max_memory_allocated`) reads higher.  A lower bound by a stated rule, the same for every
network compared -- what landing a family on a memory budget needs.  BATCH is every
built-in proxy's batch.
"""

from __future__ import annotations

import torch
from torch import nn

BATCH = 128  # the batch the cost is stated at (every built-in space's proxy batch)
OPTIMIZER_COPIES = 3  # weights, gradients, momentum


def saved_bytes_per_image(model: nn.Module, in_channels: int, resolution: int) -> int:
    """The bytes autograd keeps for one image's backward (module docstring)."""
    weights = {p.untyped_storage().data_ptr() for p in model.parameters()}
    weights |= {b.untyped_storage().data_ptr() for b in model.buffers()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in weights:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    example = torch.randn(2, in_channels, resolution, resolution)
    with torch.random.fork_rng(devices=[]), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        torch.manual_seed(0)  # dropout's masks: the same bytes every time
        model(example)
    return sum(seen.values()) // 2


def weight_bytes(model: nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def training_memory(model: nn.Module, in_channels: int, resolution: int, batch: int = BATCH) -> int:
    """Bytes one SGD step at `batch` keeps alive (module docstring)."""
    return batch * saved_bytes_per_image(model, in_channels, resolution) + OPTIMIZER_COPIES * weight_bytes(model)


_MEASURED: dict[tuple, int] = {}


def cached_training_memory(key: str, build, in_channels: int, resolution: int, batch: int = BATCH) -> int:
    """`training_memory` of the network `build()` makes, once per (`key`, shape, batch) in a
    process: a landing measures the same candidates again."""
    at = (key, in_channels, resolution, batch)
    if at not in _MEASURED:
        _MEASURED[at] = training_memory(build(), in_channels, resolution, batch)
    return _MEASURED[at]
