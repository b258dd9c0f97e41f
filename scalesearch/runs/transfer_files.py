"""A transfer run's results: transfer.csv (one row per point) and transfer.json (the answer).

Its units (one line per grown point x seed) live in units.jsonl, kept as compare keeps
them (runs/compare_units.py).  transfer.json holds everything the report shows: both
rankings, Kendall's tau with its range, the verdict and which budget each side had;
`scalesearch report DIR` rebuilds report.md / report.html from it alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalesearch.files import read_json, write_atomic, write_json

RESULTS = "transfer.json"


def write_transfer(out: Path, document: dict[str, Any]) -> list[Path]:
    import pandas as pd

    out = Path(out)
    csv_path, json_path = out / "transfer.csv", out / RESULTS
    write_atomic(csv_path, pd.DataFrame(document["points"]).to_csv(index=False))
    write_json(json_path, document)
    return [csv_path, json_path]


def read_transfer(out: Path) -> dict[str, Any]:
    return read_json(Path(out) / RESULTS)
