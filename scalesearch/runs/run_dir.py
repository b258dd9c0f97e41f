"""run.json: what made a run directory, in one schema for every kind of run.

    {"kind": "grid" | "expand" | "compare" | "train" | ...,
     "scalesearch": "0.1.0",           the version that made it
     "baseline": "resnet50", "space": "<hash of the baseline's NetSpec or factory ref>",
     "request": {...},                 what was asked (the job's request, as JSON)
     "identity": {...},                what a rerun must agree on to continue this run
     "results": "best.json",           the file a report starts from
     "command": "scalesearch grid ...",
     "created": ISO time, "finished": ISO time or null}

A directory belongs to one run.  `claim_run_dir` writes run.json before any work starts
and refuses a directory made by another kind of run, for another baseline, or with
another identity (the settings that change what its results mean), so a second command
can never silently overwrite or mix into a first one's results.

A directory that holds nothing but an unfinished run.json is a failed start (a command
refused after it claimed the folder, or killed before its first result): it has no
results to protect, so any run may claim it again, unless a live process holds it
(runs/locks.py: the claim marks the directory live until the command ends).
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from scalesearch import __version__
from scalesearch.errors import UserError
from scalesearch.files import check_free_space, jsonable, read_json, remove_stale_temporaries, write_json
from scalesearch.runs.locks import CLAIMS, LOCK_FILE, hold_run, release_run, run_is_live

RUN_FILE = "run.json"
MIN_FREE = 16 * 2**20  # tables, reports and figures of one run, with room to spare


RUNS = Path("runs")  # where a command's run directory goes when --out is not given


def default_run_dir(kind: str, name: str, *parts: str) -> Path:
    """The one default-folder rule: runs/KIND-NAME[-PART...], the name made safe for a path
    (a YAML path or a package.module:factory reference becomes dashes)."""
    return RUNS / "-".join([kind, re.sub(r"[^A-Za-z0-9_.-]+", "-", name), *parts])


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunInfo:
    kind: str
    baseline: str
    space: str
    request: dict[str, Any]
    results: str
    identity: dict[str, Any] = field(default_factory=dict)
    command: str = ""
    created: str = ""
    finished: str | None = None
    scalesearch: str = __version__

    def as_dict(self) -> dict[str, Any]:
        return jsonable(asdict(self))


def read_run_info(run_dir: str | Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such directory (give the output directory of a scalesearch run)")
    info = read_json(run_dir / RUN_FILE) if (run_dir / RUN_FILE).is_file() else None
    if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
        raise UserError(f"{run_dir}: no {RUN_FILE} with a 'kind' field; is this a scalesearch run directory?")
    return info


def claim_run_dir(run_dir: str | Path, info: RunInfo) -> RunInfo:
    """Create `run_dir` for `info`, or reopen it when it holds the same run; refuse otherwise."""
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UserError(f"{{out}} {run_dir}: exists and is not a folder; choose another {{out}}")
    check_free_space(run_dir, MIN_FREE, f"a {info.kind} run's results and report")
    remove_stale_temporaries(run_dir)  # half-written files of a run killed mid-write
    path = run_dir / RUN_FILE
    if not path.is_file():
        return _claim(run_dir, replace(info, created=info.created or now()))
    stored = read_run_info(run_dir)
    if _failed_start(run_dir, stored):
        return _claim(run_dir, replace(info, created=now()))
    for key, what in (("kind", "kind of run"), ("baseline", "baseline"), ("space", "search space")):
        if stored.get(key) != getattr(info, key):
            raise UserError(f"{{out}} {run_dir} holds a {stored.get('kind')} run of "
                            f"{stored.get('baseline')!r}; this {info.kind} of {info.baseline!r} has another "
                            f"{what}; choose another {{out}}")
    old, new = stored.get("identity") or {}, jsonable(info.identity)
    if old != new:
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        first = changed[0]
        more = f", and {len(changed) - 1} more" if len(changed) > 1 else ""
        raise UserError(f"{{out}} {run_dir} holds a {info.kind} with a different configuration "
                        f"({first}: {_short(old.get(first))} there, {_short(new.get(first))} now{more}); "
                        "rerun with the same options or choose another {out}")
    return _claim(run_dir, replace(info, created=stored.get("created") or now(), finished=None))


def _claim(run_dir: Path, info: RunInfo) -> RunInfo:
    write_json(run_dir / RUN_FILE, info.as_dict())
    hold_run(run_dir)
    return info


def _failed_start(run_dir: Path, stored: dict[str, Any]) -> bool:
    """Only an unfinished run.json in `run_dir` (temporary files aside): nothing to keep."""
    if stored.get("finished") or run_is_live(run_dir):
        return False
    return all(p.name in (RUN_FILE, LOCK_FILE, CLAIMS) or ".tmp" in p.name for p in run_dir.iterdir())


def finish_run(run_dir: str | Path, info: RunInfo) -> RunInfo:
    """Stamp run.json as finished (after the results are written)."""
    info = replace(info, finished=now())
    write_json(Path(run_dir) / RUN_FILE, info.as_dict())
    release_run(run_dir)
    return info


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
