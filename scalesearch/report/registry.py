"""Which builder turns a run directory of each kind back into a Report.

A run directory holds `run.json` with `{"kind": ...}`; `rebuild(run_dir)` looks the
kind up here and re-renders report.md / report.html from the saved results only.

Adding a kind is one line, either here in `BUILDERS` (a lazy "module:function" so the
CLI does not import every command's code), e.g.

    "grid": "scalesearch.report.grid:grid_report",

or, from code, `register("grid", grid_report)`.  A builder takes the run directory and
its run.json dict and returns a `Report`; a builder that writes its own files may
return the paths it wrote instead.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from scalesearch.errors import UserError
from scalesearch.report.document import Report
from scalesearch.files import write_atomic
from scalesearch.runs.run_dir import read_run_info

Builder = Callable[[Path, dict[str, Any]], Report]

BUILDERS: dict[str, str | Builder] = {
    "expand": "scalesearch.report.expand:expand_report",
    "grid": "scalesearch.report.grid:grid_report",
    "compare": "scalesearch.report.compare:compare_report",
    "transfer": "scalesearch.report.transfer:transfer_report",
    "calibrate": "scalesearch.report.calibrate:calibrate_report",
}


def register(kind: str, builder: Builder) -> None:
    """Register a builder; a second one for the same kind is a bug and fails loudly."""
    if kind in BUILDERS and BUILDERS[kind] is not builder:
        raise ValueError(f"a report builder for kind {kind!r} is already registered")
    BUILDERS[kind] = builder


def builder_for(kind: str) -> Builder:
    entry = BUILDERS.get(kind)
    if entry is None:
        raise UserError(f"no report builder for run kind {kind!r}; known: {', '.join(sorted(BUILDERS))}")
    if isinstance(entry, str):
        module, _, name = entry.partition(":")
        entry = getattr(importlib.import_module(module), name)
    return entry


def rebuild(run_dir: str | Path) -> dict[str, Path]:
    """Re-render a run directory's report from its saved results; returns the files written."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    builder = builder_for(info["kind"])
    try:
        built = builder(run_dir, info)
    except UserError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, OSError) as error:  # a results file not as saved
        raise UserError(f"{run_dir}: its saved results cannot be read ({type(error).__name__}: {error}); "
                        "were they edited or cut short? Rerun the command that made them") from None
    if isinstance(built, Report):
        return write_report(built, run_dir)
    return {Path(path).name: Path(path) for path in built}


def write_report(report: Report, run_dir: str | Path) -> dict[str, Path]:
    """report.md (+ figures/*.png) and a self-contained report.html into run_dir."""
    from scalesearch.report.html import render_html
    from scalesearch.report.markdown import render_markdown

    run_dir = Path(run_dir)
    text, images = render_markdown(report)
    for relative, png in images.items():
        write_atomic(run_dir / relative, png)
    return {"markdown": write_atomic(run_dir / "report.md", text),
            "html": write_atomic(run_dir / "report.html", render_html(report))}
