"""A compare (or transfer) run on disk: its finished units and its rows.

The run directory holds run.json (whose identity is the configuration: a directory made
with another one is refused, not mixed), units.jsonl (one line per trained variant x
seed, appended and fsynced as each finishes, so a killed run loses at most the unit it
was training) and the rows every reader uses: compare.csv and compare.json.  Rerunning
the same command reads units.jsonl and trains only what is missing (`pending_units`,
`train_units`); `transfer` keeps its units the same way.  Each unit is trained under its
claim (runs/locks.py), so two processes on one directory share the work: each trains
what the other has not taken, then waits for the rest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar

from scalesearch.files import append_line, write_atomic, write_json
from scalesearch.runs.locks import claim_unit

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


class Keyed(Protocol):
    @property
    def key(self) -> str: ...


Item = TypeVar("Item", bound=Keyed)


def pending_units(items: list[Item], seeds: int, done: dict[str, dict]) -> list[tuple[Item, int]]:
    """Work still to do, seed by seed, so an interrupted run has whole tables early."""
    return [(item, k) for k in range(seeds) for item in items if unit_key(item.key, k) not in done]


def train_units(out: Path, todo: list[tuple[Item, int]], train_one: Callable[[Item, int], dict],
                events: Any) -> None:
    """Train each pending unit no other process has claimed, appending its record before
    the next starts; then wait for the units others held (training any whose holder died).
    `events` hears unit_started(item, seed_index) and unit_done(item, seed_index, record)."""
    taken = [(item, k) for item, k in todo if not _train_unclaimed(out, item, k, train_one, events, wait=False)]
    for item, k in taken:
        _train_unclaimed(out, item, k, train_one, events, wait=True)


def _train_unclaimed(out: Path, item: Item, k: int, train_one: Callable[[Item, int], dict], events: Any,
                     wait: bool) -> bool:
    """Train unit (item, k) under its claim unless it is finished; False: another process holds it."""
    key = unit_key(item.key, k)
    with claim_unit(out, key, wait) as mine:
        if not mine:
            return False
        if key not in read_units(out):  # the process that held it may have finished it
            events.unit_started(item, k)
            record = train_one(item, k)
            append_unit(out, record)
            events.unit_done(item, k, record)
    return True


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
