"""join: a worker on any host joins a grid's study by its storage URL and name alone.

`grid` records in the study the request it ran with (and a YAML space's text, since the
file is on its host); here that request is read back, the settings local to this host —
where the data is, the device, the threads — are applied, and the same worker loop as
`grid`'s own processes trains units until none is wanted.  Launchers (Slurm, Kubernetes)
start N of these with one identical command line.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scalesearch.errors import UserError
from scalesearch.grid import GridEvents, GridRequest, run_grid
from scalesearch.requests import Placement, check_record, compose, flat_names
from scalesearch.search.storage import open_storage
from scalesearch.search.study import study_attrs
from scalesearch.search.worker import Event
from scalesearch.spec.spaces import builtin_names


@dataclass(frozen=True)
class JoinRequest:
    storage: str
    study: str
    placement: Placement = field(default_factory=Placement)  # data_dir None: the study's own setting
    allow_factory: tuple[str, ...] = ()  # factories this worker's own command line trusts (module:function)


@dataclass
class JoinResult:
    study: str
    trained: int  # units this worker finished
    baseline: str


def stored_request(storage_url: str, name: str) -> tuple[dict[str, Any], str | None]:
    """The grid request study `name` was set up with, and its space's YAML text if any."""
    storage = open_storage(storage_url, Path("."))
    attrs = study_attrs(storage, name)
    if attrs is None:
        raise UserError(f"no study {name!r} in {{storage}}; create it with `scalesearch grid ... --workers 0 "
                        f"--storage URL --study {name}`")
    if "request" not in attrs:
        raise UserError(f"study {name!r} does not describe itself (made before workers could join by URL, or "
                        "not by scalesearch grid); run `scalesearch grid` with its options once, then join")
    stored, space_text = attrs["request"], attrs.get("space_text")
    if not isinstance(stored, dict) or not isinstance(space_text, (str, type(None))):
        raise UserError(f"study {name!r} holds a malformed request (its request is not a record, or its space "
                        "text not text): it was not written by scalesearch grid")
    return stored, space_text


def check_code(baseline: Any, space_text: str | None, allowed: tuple[str, ...], study: str) -> None:
    """A study is input from elsewhere: anyone who can write its database could name a
    `module:function` factory for every worker to import.  Built-in names and YAML spaces
    are data; a factory is code, run only when this worker's own command line names it."""
    name = str(baseline)
    if space_text is not None or name in builtin_names() or name.endswith((".yaml", ".yml")) or ":" not in name:
        return
    if name not in allowed:
        raise UserError(f"study {study!r} names the factory {name!r} as its baseline, and a worker imports no code "
                        f"a study names: start it with --allow-factory {name} if you trust that module")


def run_join(request: JoinRequest, events: GridEvents | None = None) -> JoinResult:
    """Train units of the study until none is wanted (see the module docstring)."""
    stored, space_text = stored_request(request.storage, request.study)
    check_code(stored.get("baseline"), space_text, request.allow_factory, request.study)  # before anything resolves it
    names = flat_names(GridRequest)
    known = {k: v for k, v in stored.items() if k in names}
    check_record(GridRequest, known, f"study {request.study!r}")  # field by field, before anything uses them
    here = request.placement
    local = {"storage": request.storage, "study": request.study, "worker_only": True, "workers": 1,
             "placement": replace(here, data_dir=here.data_dir if here.data_dir is not None else known.get("data_dir")),
             "out": Path(known["out"]) if known.get("out") else None}
    counter = _Counter(events or GridEvents())
    with tempfile.TemporaryDirectory(prefix="scalesearch-join-") as folder:
        if space_text is not None:  # the space's file is on the coordinator's host: use its text
            path = Path(folder) / (Path(str(known["baseline"])).stem + ".yaml")
            path.write_text(space_text)
            known["baseline"] = str(path)
        run_grid(compose(GridRequest, {**known, **local}), counter)
    return JoinResult(request.study, counter.trained, Path(str(stored["baseline"])).stem)


class _Counter(GridEvents):
    """Passes events on and counts the units this worker finished."""

    def __init__(self, inner: GridEvents):
        self.inner, self.trained = inner, 0

    def trial(self, event: Event, rows) -> None:
        if event.kind == "end" and event.state == "ok":
            self.trained += 1
        self.inner.trial(event, rows)

    def measuring(self):
        return self.inner.measuring()

    def note(self, text: str) -> None:
        self.inner.note(text)
