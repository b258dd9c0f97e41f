"""The parts every command's request shares, declared once and embedded in each.

A request (`GridRequest`, `CompareRequest`, ...) holds what only its command asks and
embeds the shared parts it uses:

    dataset    DataChoice     which data source, how many images of each split
    budget     BudgetChoice   the proxy budget's settings: epochs, batch size, lr, seed
    placement  Placement      what is local to the host that trains: device, threads, data folder
    timing     LatencyChoice  how latency is timed: threads, batch, device

The data folder is the host's, not the data's: a grid worker joining from another host
(join.py) or a transfer reading a grid made elsewhere brings its own, with its device.

None in a field means the baseline's own default (its proxy budget, the training device).

A request is recorded flat (run.json, a grid study's attributes): each part's fields in
place of the part, as before requests were composed, so every field name is unique across
a request and its parts, old records read back unchanged, and readers look up
`record["epochs"]`.  `flat` writes that record; `compose` reads it back.
"""

from __future__ import annotations

import math
import types
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Mapping, TypeVar, Union, get_args, get_origin, get_type_hints

from scalesearch.errors import UserError
from scalesearch.files import jsonable
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.unit import DataSource

Request = TypeVar("Request")


@dataclass(frozen=True)
class DataChoice:
    """Which images a command trains and evaluates on."""

    data: str = "fashion-mnist"
    train_images: int | None = None  # a seeded subset (None: the space's proxy budget)
    val_images: int = 2000  # held out of the training split: what a search selects on
    test_images: int | None = None  # None: the whole test split


@dataclass(frozen=True)
class BudgetChoice:
    """The proxy budget's settings; None falls back to the space's proxy budget."""

    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    seed: int = 0  # the base seed: seed index k trains with seed + k
    # A recipe file's proxy block (`--proxy FILE`: what `scalesearch calibrate` writes), over the
    # space's own and under the settings above; held as values, so a worker on another host
    # that recomposes the request from a study trains with it too.
    proxy: dict[str, Any] | None = None


@dataclass(frozen=True)
class Placement:
    """What is local to the host one process trains on."""

    device: str = "auto"  # cpu, cuda or auto
    threads: int | None = None  # None: the command's own rule (cores / workers, or every core)
    data_dir: str | None = None  # where this host keeps the data's files (None: the source's default)


@dataclass(frozen=True)
class LatencyChoice:
    """How a latency is timed (the paper's convention: one thread, batch 1)."""

    latency_threads: int = 1
    latency_batch: int = 1
    latency_device: str | None = None  # None: the training device


PARTS = (DataChoice, BudgetChoice, Placement, LatencyChoice)


def recipe_over(proxy: dict[str, Any], budget: BudgetChoice) -> dict[str, Any]:
    """A space's `proxy:` block with the request's recipe file over it.  The file may not move
    the base resolution (every caller reads it from the space): --resolution does that."""
    recipe = budget.proxy or {}
    if "resolution" in recipe and int(recipe["resolution"]) != int(proxy.get("resolution", 32)):
        raise UserError(f"{{proxy}}: its resolution {recipe['resolution']} is not the space's base resolution "
                        f"{proxy.get('resolution', 32)}; drop it from the file and give {{resolution}} instead")
    return {**proxy, **recipe}


def proxy_budget(proxy: dict[str, Any], dataset: DataChoice, budget: BudgetChoice, **more: Any) -> ProxyBudget:
    """A space's `proxy:` budget with the request's recipe file and settings on top (None keeps
    the space's)."""
    settings = {k: v for k, v in asdict(budget).items() if k != "proxy"}
    return ProxyBudget.for_space(recipe_over(proxy, budget), **settings, train_images=dataset.train_images,
                                 val_images=dataset.val_images, **more)


def uncalibrated(space_proxy: dict[str, Any], budget: BudgetChoice, baseline: str) -> str:
    """The line grid, compare and transfer print once when the recipe they train with was never
    calibrated ("" when it was)."""
    if recipe_over(space_proxy, budget).get("calibrated"):
        return ""
    return (f"the proxy recipe of {baseline} was never calibrated: a training it blows up is reported, "
            f"not ranked; `scalesearch calibrate --baseline {baseline}` finds one under which its hardest "
            "networks train (then --proxy FILE)")


def data_source(dataset: DataChoice, placement: Placement, budget: ProxyBudget) -> DataSource:
    """Where a command's units get their images: the data chosen, in this host's folder,
    with the budget's image counts."""
    return DataSource(dataset.data, placement.data_dir, train_images=budget.train_images,
                      val_images=budget.val_images, test_images=dataset.test_images)


def parts(kind: type) -> dict[str, type]:
    """The shared parts a request class embeds: field name -> part class."""
    hints = get_type_hints(kind)
    return {f.name: hints[f.name] for f in fields(kind) if hints[f.name] in PARTS}


def part_names(kind: type) -> set[str]:
    """The field names a request's parts hold."""
    return {f.name for part in parts(kind).values() for f in fields(part)}


def flat_names(kind: type) -> set[str]:
    """Every field name of a request's flat record: its own and its parts'."""
    return set(flat_types(kind))


def parts_from(kind: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """The parts `kind` embeds, each from the values named like its fields (the rest at
    the part's defaults)."""
    return {name: part(**{f.name: values[f.name] for f in fields(part) if f.name in values})
            for name, part in parts(kind).items()}


def flat(request: Any) -> dict[str, Any]:
    """The request as its flat, JSON-ready record (the module docstring)."""
    record: dict[str, Any] = {}
    for f in fields(request):
        value = getattr(request, f.name)
        record.update(asdict(value) if isinstance(value, PARTS) else {f.name: value})
    return jsonable(record)


def flat_types(kind: type) -> dict[str, Any]:
    """Every field of a request's flat record with its annotated type."""
    hints = get_type_hints(kind)
    out = {f.name: hints[f.name] for f in fields(kind) if f.name not in parts(kind)}
    for part in parts(kind).values():
        own = get_type_hints(part)
        out.update({f.name: own[f.name] for f in fields(part)})
    return out


def _fits(value: Any, hint: Any) -> bool:
    """Whether a JSON value read back from elsewhere is what `hint` says (None for an
    Optional, a finite number for a float, a str for a Path, a dict for a dict)."""
    if get_origin(hint) in (Union, types.UnionType):
        return any(_fits(value, h) for h in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint in (str, Path):
        return isinstance(value, str)
    origin = get_origin(hint) or hint
    return isinstance(value, origin) if isinstance(origin, type) else True


def check_record(kind: type, record: Mapping[str, Any], where: str) -> None:
    """Refuse, in one line, a flat record (a study's stored request: input from wherever its
    database is) whose fields are not of their request's types; ranges are the request's
    own checks, which it runs when composed."""
    types_ = flat_types(kind)
    for name, value in record.items():
        if name in types_ and not _fits(value, types_[name]):
            shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
            raise UserError(f"{where} holds a malformed request: {name} = {shown} is not "
                            f"{_type_name(types_[name])}")


def _type_name(hint: Any) -> str:
    names = {bool: "true or false", int: "a whole number", float: "a finite number", str: "text", Path: "a path",
             type(None): "null"}
    if get_origin(hint) in (Union, types.UnionType):
        return " or ".join(_type_name(h) for h in get_args(hint))
    return names.get(hint, getattr(get_origin(hint) or hint, "__name__", str(hint)))


def compose(kind: type[Request], record: Mapping[str, Any]) -> Request:
    """A `kind` request from flat values: each part from the values named like its fields,
    or given whole under its own name; the request's own fields from the others.  A name
    that is neither is refused (TypeError), as the request's own constructor would."""
    held = part_names(kind)
    return kind(**{**parts_from(kind, record), **{k: v for k, v in record.items() if k not in held}})
