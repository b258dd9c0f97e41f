"""The export folder: which members a target names, and exports.json.

A target is an expand run directory (every member with a `spec_file` in family.json) or
one member YAML.  `--out DIR` then holds one file per member (`member-phi1.pt2`,
`.onnx`, or `.pt` with the NetSpec `.yaml` beside it) and exports.json: per file, the
member, its format, size, input shape, and the reload check (runner, max |difference|,
tolerance, ok).

An export folder belongs to its source: `check_export_folder` refuses the source's own
folder and a non-empty folder that is neither an export of the same source (its
exports.json says so) nor the files an interrupted export of it left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scalesearch.errors import UserError
from scalesearch.files import read_json, write_json

EXPORTS_FILE = "exports.json"


def export_targets(target: Path) -> list[tuple[str, Path]]:
    """(name, member YAML) for each member `target` names; one line when it names none."""
    if target.is_file():
        return [(target.stem, target)]
    if not target.is_dir():
        raise UserError(f"{target}: no such file or folder (give an expand run directory or a member YAML)")
    family = target / "family.json"
    if not family.is_file():
        raise UserError(f"{target}: no family.json; give the output directory of `scalesearch expand` "
                        "or one member YAML")
    members = read_json(family).get("members", [])
    files = [m["spec_file"] for m in members if m.get("spec_file")]
    if not files:
        raise UserError(f"{target}: its members have no spec files (a factory baseline); nothing to export")
    return [(Path(f).stem, target / f) for f in files]


def write_exports(out: Path, payload: dict[str, Any]) -> Path:
    return write_json(Path(out) / EXPORTS_FILE, payload)


def check_export_folder(out: Path, target: Path, files: set[str]) -> None:
    """Refuse writing `files` into `out` unless it is empty, or an export of `target` (whole
    or interrupted); never into the folder `target` is read from."""
    source = (target if target.is_dir() else target.parent).resolve()
    if out.resolve() == source:
        raise UserError(f"{{out}} {out} is the folder the members are read from; choose another {{out}}")
    if not out.is_dir() or not any(out.iterdir()):
        return
    record = out / EXPORTS_FILE
    if record.is_file():
        stored = read_json(record)
        made_from = stored.get("source") or stored.get("target") if isinstance(stored, dict) else None
        if made_from and Path(made_from).resolve() == target.resolve():
            return
        raise UserError(f"{{out}} {out} holds an export of {made_from}, not of {target}; choose another {{out}}")
    foreign = sorted(p.name for p in out.iterdir() if p.name not in files and ".tmp" not in p.name)
    if foreign:
        raise UserError(f"{{out}} {out} is not empty and not an export of {target} (it holds {foreign[0]}"
                        f"{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}); choose another {{out}}")
