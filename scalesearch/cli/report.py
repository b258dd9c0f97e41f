"""`scalesearch report DIR`: rebuild a run directory's report from its saved results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalesearch.cli.app import FormatOption, OutputFormat, command, print_json, stderr
from scalesearch.errors import UserError
from scalesearch.runs.locks import run_is_live
from scalesearch.runs.run_dir import read_run_info
from scalesearch.report.registry import rebuild


@command("report", "scalesearch report runs/expand-efficientnet-b0")
def report(
    run_dir: Annotated[Path, typer.Argument(help="The --out directory of a grid, expand, compare or transfer run.")],
    format: FormatOption = OutputFormat.table,
) -> None:
    """Re-render report.md and report.html of a run from its saved results (nothing is recomputed)."""
    kind = read_run_info(run_dir)["kind"]
    running = run_is_live(run_dir)
    try:
        written = {name: str(path) for name, path in rebuild(run_dir).items()}
    except UserError:
        if running:  # its results are still being written, not damaged
            raise UserError(f"{run_dir}: its {kind} run is still running and has no results to report yet; "
                            "run `scalesearch report` again when it has finished units") from None
        raise
    if running:
        stderr.print(f"note: the {kind} run in {run_dir} is still running; this report covers what has "
                     "finished so far", markup=False)
    if format is OutputFormat.json:
        print_json({"run_dir": str(run_dir), "kind": kind, "files": written})
    else:
        typer.echo(f"{kind} report rebuilt: " + ", ".join(written.values()))
