"""A compare run on disk: its finished units and its rows.

The run directory holds run.json (whose identity is the configuration: a directory made
with another one is refused, not mixed), units.jsonl (one line per trained variant x
seed, appended and fsynced as each finishes, so a killed run loses at most the unit it
was training) and the rows every reader uses: compare.csv and compare.json.  Rerunning
the same command reads units.jsonl and trains only what is missing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from scalesearch.runs.files import append_line, write_atomic, write_json

UNITS_FILE = "units.jsonl"


def read_units(out: Path) -> dict[str, dict]:
    units: dict[str, dict] = {}
    path = Path(out) / UNITS_FILE
    if not path.is_file():
        return units
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill mid-write: that unit simply runs again
        if isinstance(record, dict) and "key" in record:
            units[record["key"]] = record
    return units


def append_unit(out: Path, record: dict) -> None:
    """Append one finished unit and make it durable before the next one starts."""
    append_line(Path(out) / UNITS_FILE, json.dumps(record, allow_nan=True))


def unit_key(variant_key: str, seed_index: int) -> str:
    """A unit is one variant trained with one seed: "2x/width/seed0"."""
    return f"{variant_key}/seed{seed_index}"


def write_results(out: Path, config: dict, rows: list[dict]) -> list[Path]:
    """compare.csv and compare.json: the rows the report (and any user script) reads."""
    import pandas as pd

    out = Path(out)
    csv_path, json_path = out / "compare.csv", out / "compare.json"
    write_atomic(csv_path, pd.DataFrame(rows).to_csv(index=False))
    write_json(json_path, {"kind": "compare", "config": config, "rows": rows,
                           "shapes": {"cost": "deployment (the space's resolution, 3 channels, 1000 classes)",
                                      "accuracy": f"proxy ({config.get('data')}, base "
                                                  f"{config.get('proxy_resolution')} px x r)"}})
    return [csv_path, json_path]
