"""A training's checkpoint: weights, optimizer, epoch, history, RNG states and the
caller's extra record (the NetSpec, the data), written atomically after every epoch.

A checkpoint holds tensors and plain data only (the extra record goes through JSON), and
is read back with `weights_only=True`: a run directory may be shared or copied, and a
file planted there must not run code as whoever resumes the run.  A file that does not
load that way is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from scalesearch.errors import UserError
from scalesearch.files import check_free_space, jsonable, temporary_sibling
from scalesearch.training import distributed
from scalesearch.training.budget import ProxyBudget


def save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, epoch: int, history: list, budget: ProxyBudget,
                    extra: dict | None, torch_states: list[torch.Tensor], average: dict | None = None) -> None:
    """Write the run's state; `torch_states` holds each rank's global RNG state (one without --nproc);
    `average`, the running weight average's state where the budget evaluates one."""
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch,
             "history": history, "budget": budget.as_dict(), "extra": _plain(extra or {}),
             "processes": len(torch_states),
             "rng": {"batches": generator.get_state(), "torch": torch_states[0],
                     "torch_by_rank": torch_states}}
    if average is not None:
        state["average"] = average
    path.parent.mkdir(parents=True, exist_ok=True)
    need = 2 * sum(t.numel() * t.element_size() for t in model.state_dict().values()) + 2**20
    check_free_space(path.parent, 2 * need, f"the checkpoint after epoch {epoch} (epoch {epoch - 1}'s is kept)")
    with temporary_sibling(path) as tmp:  # a run killed mid-save keeps the previous checkpoint
        torch.save(state, tmp)


def load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                    generator: torch.Generator, budget: ProxyBudget,
                    extra: dict | None = None, average=None) -> tuple[int, list]:
    """Restore a run from `path`; refuse one made with another budget, network or data."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        if not isinstance(state, dict) or "model" not in state:
            raise ValueError("not a scalesearch checkpoint")
    except Exception as error:  # a truncated, foreign or planted file is the user's input
        raise UserError(f"{{resume}}: cannot read checkpoint {path}: {_why(error)}; "
                        "it is not a checkpoint scalesearch wrote; use a new {out}") from None
    if state.get("budget") != budget.as_dict():
        stored, wanted = state.get("budget") or {}, budget.as_dict()
        changed = sorted(k for k in stored.keys() | wanted.keys() if stored.get(k) != wanted.get(k))
        raise UserError(f"{{resume}}: checkpoint {path} was made with a different budget "
                        f"({', '.join(changed)} differ); resume with the same settings or use a new {{out}}")
    stored_data = (state.get("extra") or {}).get("data") or {}
    wanted_data = (extra or {}).get("data") or {}
    for key in ("data", "data_source"):
        if stored_data.get(key) is not None and wanted_data.get(key) is not None \
                and stored_data[key] != wanted_data[key]:
            raise UserError(f"{{resume}}: checkpoint {path} was trained on {stored_data[key]!r}, not "
                            f"{wanted_data[key]!r}; resume with the same {{data}} or use a new {{out}}")
    try:
        model.load_state_dict(state["model"])
    except RuntimeError:
        raise UserError(f"{{resume}}: checkpoint {path} holds a different network; use a new {{out}}") from None
    optimizer.load_state_dict(state["optimizer"])
    if average is not None and state.get("average") is not None:
        average.load(state["average"])
    generator.set_state(state["rng"]["batches"])
    by_rank = state["rng"].get("torch_by_rank") or [state["rng"]["torch"]]
    if distributed.rank() < len(by_rank):
        torch.set_rng_state(by_rank[distributed.rank()])
    else:  # resumed with more processes than it was saved with: a fresh stream for this rank
        torch.manual_seed(budget.seed + distributed.rank() + 7919 * int(state["epoch"]))
    return int(state["epoch"]), list(state["history"])


def _plain(extra: dict) -> dict:
    """The caller's record as JSON data (a NetSpec as its dict): loadable with weights_only."""
    return json.loads(json.dumps(jsonable(extra)))


def _why(error: Exception) -> str:
    """One line: torch's refusal of a non-weights pickle spans a page; its first line says it."""
    if "Weights only load failed" in str(error):
        return "it holds more than tensors and plain data (refused, nothing in it was run)"
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}"[:200]
