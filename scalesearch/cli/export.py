"""`scalesearch export`: a family's members (or one member YAML) as files in a registered format
(pt2, ONNX, state_dict, ...: models/export_formats.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from scalesearch.cli.app import OutputFormat, command, emit, stderr
from scalesearch.cli.options import MaxMemoryOption
from scalesearch.costs.guard import set_memory_budget
from scalesearch.export import ExportEvents, ExportRequest, run_export
from scalesearch.models.export_formats import format_help


@command("export", "scalesearch export runs/expand-efficientnet-b0 --format onnx --out exported/")
def export(
    target: Annotated[Path, typer.Argument(metavar="DIR_OR_MEMBER", help="An expand run directory (every member) or one member YAML.")],
    format: Annotated[str, typer.Option("--format", help=f"The file format: {format_help()}.")] = "pt2",
    out: Annotated[Optional[Path], typer.Option(help="Output folder [default: DIR/export-FORMAT].")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initial weights (and of the check's input).")] = 0,
    weights: Annotated[Optional[Path], typer.Option(help="A state_dict file to export instead (mapped by order; shapes must match).")] = None,
    max_memory: MaxMemoryOption = None,
    output: Annotated[OutputFormat, typer.Option("--output", help="table for people; json prints exports.json's document on stdout and nothing else (--format names the export format here).")] = OutputFormat.table,
) -> None:
    """Export each member at its deployment shape; reload each file, compare with the eager model, record it in exports.json."""
    set_memory_budget(max_memory)
    display = Notes()
    payload = run_export(ExportRequest(target=target, format=format, out=out, seed=seed, weights=weights),
                         display)
    emit(output, payload, lambda: _table(payload))


class Notes(ExportEvents):
    """One line on stderr per exported member."""

    def exported(self, record: dict) -> None:
        stderr.print(f"exported {record['file']} (check {'ok' if record['check']['ok'] else 'FAILED'})",
                     markup=False)


def _table(payload: dict) -> Table:
    table = Table(title=f"{payload['format']} exports in {payload['out']} (deployment shape, batch 1)")
    for column in ("member", "file", "input", "MB", "runner", "max |out|", "max |diff|", "rel. tol", "check"):
        table.add_column(column, justify="left" if column in ("member", "file", "runner") else "right")
    for r in payload["members"]:
        c = r["check"]
        table.add_row(r["member"], r["file"], "x".join(map(str, r["input"])), f"{r['bytes'] / 2**20:.2f}",
                      c["runner"], f"{c['max_abs_output']:.2g}", f"{c['max_abs_diff']:.2g}", f"{c['tolerance']:g}",
                      "ok" if c["ok"] else "FAILED")
    return table
