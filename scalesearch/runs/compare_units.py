"""A compare run on disk: its configuration, its finished units, its rows.

`--out DIR` holds run.json (the configuration the run was made with), units.jsonl (one
line per trained variant x seed, appended and fsynced as each finishes, so a killed run
loses at most the unit it was training) and the rows every reader uses: compare.csv and
compare.json.  Rerunning the same command reads units.jsonl and trains only what is
missing; a directory made with another configuration is refused, not mixed.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from scalesearch.errors import UserError
from scalesearch.runs.files import RUN_FILE, write_atomic, write_json

if TYPE_CHECKING:
    from scalesearch.compare import Planned

UNITS_FILE = "units.jsonl"


def open_run(out: Path, config: dict) -> dict[str, dict]:
    """Create or reopen `out` for `config`; return the finished units by key.

    Units trained under different budgets or coefficients are not comparable rows of one
    table, so a directory made with another configuration is refused.
    """
    out = Path(out)
    run_file = out / RUN_FILE
    if run_file.is_file():
        try:
            stored = json.loads(run_file.read_text())
        except json.JSONDecodeError:
            raise UserError(f"--out {out}: {RUN_FILE} is not valid JSON; use a new --out") from None
        if stored.get("kind") != "compare":
            raise UserError(f"--out {out} holds a {stored.get('kind', 'different')!r} run, not a compare; use a new --out")
        if stored.get("config") != config:
            old = stored.get("config") or {}
            changed = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            first = changed[0]
            raise UserError(f"--out {out} holds a compare with a different configuration "
                            f"({first}: {old.get(first)!r} there, {config.get(first)!r} now"
                            f"{f', and {len(changed) - 1} more' if len(changed) > 1 else ''}); "
                            "rerun with the same options or use a new --out")
    else:
        created = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        write_json(run_file, {"kind": "compare", "config": config, "results": "compare.json",
                              "created": created})
    return read_units(out)


def read_units(out: Path) -> dict[str, dict]:
    units: dict[str, dict] = {}
    path = Path(out) / UNITS_FILE
    if not path.is_file():
        return units
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill mid-write: that unit simply runs again
        if isinstance(record, dict) and "key" in record:
            units[record["key"]] = record
    return units


def append_unit(out: Path, record: dict) -> None:
    """Append one finished unit and make it durable before the next one starts."""
    with open(Path(out) / UNITS_FILE, "a") as handle:
        handle.write(json.dumps(record, allow_nan=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def unit_key(item: Planned, seed_index: int) -> str:
    return f"{item.key}/seed{seed_index}"


def pending_units(plan: list[Planned], seeds: int, done: dict[str, dict]) -> list[tuple[Planned, int]]:
    """Work still to do, seed by seed, so an interrupted run has whole tables early."""
    return [(item, k) for k in range(seeds) for item in plan if unit_key(item, k) not in done]


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
