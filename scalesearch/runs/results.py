"""Finished runs read back for user code: a grid's points, a family's members, a comparison's rows.

Each reader checks run.json's kind, then returns a `RunResults`: the run's record
(run.json), its summary document, and its main table as a pandas frame, one row per
grid point / family member / compared variant.  They read the same files the reports
read; nothing is recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.errors import UserError
from scalesearch.files import read_json
from scalesearch.runs.run_dir import read_run_info


@dataclass(frozen=True)
class RunResults:
    """One finished run: `table` holds its rows, `summary` its top-level results."""

    kind: str  # grid | expand | compare
    run_dir: Path
    info: dict[str, Any]  # run.json
    summary: dict[str, Any]  # best.json / family.json / compare.json, without the rows
    table: pd.DataFrame


def _open(run_dir: str | Path, kinds: tuple[str, ...], needs: str) -> tuple[Path, dict[str, Any]]:
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    if info["kind"] not in kinds:
        raise UserError(f"{run_dir} holds a {info['kind']} run, not a {' or '.join(kinds)} run")
    if not (run_dir / needs).is_file():
        raise UserError(f"{run_dir}: no {needs} there yet; has the run finished?")
    return run_dir, info


def read_grid(run_dir: str | Path) -> RunResults:
    """A grid run: `table` = points.csv (one row per (alpha, beta, gamma) point), `summary` = best.json.

    >>> grid = read_grid("runs/grid-efficientnet-b0")            # doctest: +SKIP
    >>> grid.summary["best"]["alpha"], grid.table[["alpha", "beta", "gamma", "mean"]]  # doctest: +SKIP
    """
    run_dir, info = _open(run_dir, ("grid",), "points.csv")
    summary = read_json(run_dir / "best.json") if (run_dir / "best.json").is_file() else {}
    return RunResults("grid", run_dir, info, summary, pd.read_csv(run_dir / "points.csv"))


def read_family(run_dir: str | Path) -> RunResults:
    """An expand run: `table` = one row per member (family.json's records, `spec_file` made
    absolute), `summary` = family.json without its members.

    >>> family = read_family("runs/expand-efficientnet-b0")      # doctest: +SKIP
    >>> family.table[["phi", "params", "flops", "spec_file"]]    # doctest: +SKIP
    """
    run_dir, info = _open(run_dir, ("expand",), "family.json")
    payload = read_json(run_dir / "family.json")
    members = [dict(m) for m in payload.get("members", [])]
    for m in members:
        if m.get("spec_file"):
            m["spec_file"] = str(run_dir / m["spec_file"])
    summary = {k: v for k, v in payload.items() if k != "members"}
    return RunResults("expand", run_dir, info, summary, pd.DataFrame(members))


def read_compare(run_dir: str | Path) -> RunResults:
    """A compare run: `table` = compare.json's rows, `summary` = its config and shapes."""
    run_dir, info = _open(run_dir, ("compare",), "compare.json")
    payload = read_json(run_dir / "compare.json")
    summary = {k: v for k, v in payload.items() if k != "rows"}
    return RunResults("compare", run_dir, info, summary, pd.DataFrame(payload.get("rows", [])))
