"""Load a state_dict saved by another implementation of the same network, by order.

torchvision's, timm's and our own modules name their tensors differently
(`layer1.0.conv1.weight`, `blocks.0.0.conv_dw.weight`, `stages.0.0.body.0.0.weight`) but
register them in the same order with the same shapes.  So a file is mapped tensor by
tensor in order: both sides' parameters and buffers in state_dict order, BN's
`num_batches_tracked` counters left out (some exporters drop them, and they change no
output: our BN uses a fixed momentum).  The mapping is refused, in one line naming the
first tensor on each side that disagrees, when the counts or any shape differ.  No
torchvision or timm import is needed: only the file.

`load_weights(model, path)` is what `train --weights`, `expand --train --weights` and
`scalesearch.build_model(..., weights=...)` call.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch
from torch import nn

from scalesearch.errors import UserError

_CONTAINER_KEYS = ("state_dict", "model", "model_state", "state_dict_ema")  # training checkpoints


@dataclass(frozen=True)
class LoadedWeights:
    """What a load did: the file, how many tensors it mapped, which it adapted or kept fresh."""

    path: str
    tensors: int
    adapted: tuple[str, ...] = ()  # e.g. a stem summed over RGB for a 1-channel proxy
    kept_fresh: tuple[str, ...] = ()  # e.g. a classifier for another class count

    def as_dict(self) -> dict:
        return {"path": self.path, "tensors": self.tensors, "adapted": list(self.adapted),
                "kept_fresh": list(self.kept_fresh)}


def read_state_dict(path: str | Path) -> "OrderedDict[str, torch.Tensor]":
    """A state_dict file's tensors in saved order (a training checkpoint's `state_dict` too)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{{weights}} {path}: no such file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle, zip or format errors: the file, not us
        raise UserError(f"{{weights}} {path}: not a torch state_dict file ({type(error).__name__})") from None
    if isinstance(data, Mapping):
        for key in _CONTAINER_KEYS:
            if isinstance(data.get(key), Mapping):
                data = data[key]
                break
    tensors = OrderedDict((k, v) for k, v in data.items() if isinstance(v, torch.Tensor)) if isinstance(data, Mapping) else {}
    if not tensors:
        raise UserError(f"{{weights}} {path}: holds no tensors (expected a state_dict)")
    return OrderedDict(tensors)


def _mapped(state: Mapping[str, torch.Tensor]) -> list[tuple[str, torch.Tensor]]:
    return [(k, v) for k, v in state.items() if not k.endswith("num_batches_tracked")]


def map_by_order(model: nn.Module, state: Mapping[str, torch.Tensor], *, fit_shape: bool = False
                 ) -> tuple["OrderedDict[str, torch.Tensor]", tuple[str, ...], tuple[str, ...]]:
    """Our state_dict keys paired with `state`'s tensors in order (dtype ours).

    `fit_shape`: a first conv weight over 3 input channels becomes one over the model's C
    (summed when C = 1, as timm adapts a stem; refused otherwise), and the classifier (the
    last weight and bias) stays freshly initialised when the class counts differ.
    Returns (the tensors to load, the adapted keys, the keys kept fresh).
    """
    ours, theirs = _mapped(model.state_dict()), _mapped(state)
    if len(ours) != len(theirs):
        first = _first_extra(ours, theirs)
        raise UserError(f"{{weights}}: the file holds {len(theirs)} tensors, the model {len(ours)} "
                        f"(not counting num_batches_tracked); {first}")
    mapped, adapted, fresh = OrderedDict(), [], []
    last_two = {ours[-1][0], ours[-2][0]} if len(ours) >= 2 else set()
    for i, ((key, mine), (name, tensor)) in enumerate(zip(ours, theirs)):
        if tensor.shape != mine.shape:
            if fit_shape and i == 0 and _fits_stem(mine, tensor):
                tensor, _ = tensor.sum(dim=1, keepdim=True), adapted.append(key)
            elif fit_shape and key in last_two and tensor.shape[1:] == mine.shape[1:]:
                fresh.append(key)
                continue
            else:
                raise UserError(f"{{weights}}: tensor {i} differs: the file's {name} is "
                                f"{tuple(tensor.shape)}, the model's {key} is {tuple(mine.shape)}"
                                f"{_order_note(ours, theirs)}")
        mapped[key] = tensor.to(mine.dtype)
    return mapped, tuple(adapted), tuple(fresh)


def _order_note(ours: list, theirs: list) -> str:
    """Say so when both hold the same shapes, only registered in another order."""
    if sorted(tuple(t.shape) for _, t in ours) == sorted(tuple(t.shape) for _, t in theirs):
        return " (both hold the same shapes in another order: its layers are registered differently)"
    return ""


def _fits_stem(mine: torch.Tensor, tensor: torch.Tensor) -> bool:
    return (mine.dim() == 4 and tensor.dim() == 4 and mine.shape[1] == 1 and tensor.shape[1] == 3
            and mine.shape[0] == tensor.shape[0] and mine.shape[2:] == tensor.shape[2:])


def _first_extra(ours: list, theirs: list) -> str:
    for i, ((key, mine), (name, tensor)) in enumerate(zip(ours, theirs)):
        if mine.shape != tensor.shape:
            return (f"first difference at tensor {i}: the file's {name} is {tuple(tensor.shape)}, "
                    f"the model's {key} is {tuple(mine.shape)}")
    if len(theirs) > len(ours):
        return f"first extra tensor in the file: {theirs[len(ours)][0]} {tuple(theirs[len(ours)][1].shape)}"
    return f"first tensor missing from the file: the model's {ours[len(theirs)][0]} {tuple(ours[len(theirs)][1].shape)}"


def load_weights(model: nn.Module, path: str | Path, *, fit_shape: bool = False,
                 state: Mapping[str, torch.Tensor] | None = None) -> LoadedWeights:
    """Load the state_dict file at `path` into `model` by order (see the module docstring);
    `state` is the file's contents where the caller has read it already (one read per family)."""
    mapped, adapted, fresh = map_by_order(model, read_state_dict(path) if state is None else state,
                                          fit_shape=fit_shape)
    model.load_state_dict(mapped, strict=False)
    return LoadedWeights(str(path), len(mapped), adapted, fresh)
