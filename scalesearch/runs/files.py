"""Results on disk: atomic writes and the run.json that names a run directory's kind.

Every result file is written to a temporary sibling and renamed into place, so a reader
(or `scalesearch report`) never sees half a file, even if the run is killed mid-write.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from scalesearch.errors import UserError

RUN_FILE = "run.json"


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(raw)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def jsonable(value: Any) -> Any:
    # NaN / inf are not JSON: write null so every JSON reader can load the file.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def write_json(path: str | Path, payload: Any) -> Path:
    return write_atomic(path, json.dumps(jsonable(payload), indent=2) + "\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON (line {error.lineno}); was the run interrupted?") from None


def write_run_info(run_dir: str | Path, kind: str, **fields: Any) -> Path:
    return write_json(Path(run_dir) / RUN_FILE, {"kind": kind, **fields})


def read_run_info(run_dir: str | Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{run_dir}: no such directory (give the --out directory of a grid, expand or compare run)")
    info = read_json(run_dir / RUN_FILE) if (run_dir / RUN_FILE).is_file() else None
    if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
        raise UserError(f"{run_dir}: no {RUN_FILE} with a 'kind' field; is this a scalesearch run directory?")
    return info


def write_report(report, run_dir: str | Path) -> dict[str, Path]:
    """report.md (+ figures/*.png) and a self-contained report.html into run_dir."""
    from scalesearch.report.html import render_html
    from scalesearch.report.markdown import render_markdown

    run_dir = Path(run_dir)
    text, images = render_markdown(report)
    for relative, png in images.items():
        write_atomic(run_dir / relative, png)
    return {"markdown": write_atomic(run_dir / "report.md", text),
            "html": write_atomic(run_dir / "report.html", render_html(report))}
