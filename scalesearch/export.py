"""export: every member of a family (or one member YAML) as a file other tools load.

`run_export(request, events)` builds each member at its deployment shape (its own
resolution, channels and classes; weights from `seed`, or a state_dict file by order),
writes it in one format, then checks the written file: reloads it, runs it on one seeded
input, and compares the outputs with the eager model's.  Each file's check is recorded in
`exports.json` (runs/export_files.py); a check that fails is reported after the record is
written.

The formats, each with its writer, its reload and its check's tolerance, are registered
entries (models/export_formats.py): pt2 (a `torch.export` program), onnx (the `[export]`
extra) and state-dict (the weights with the member's NetSpec YAML beside them; rebuilt,
loaded, and must match exactly).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from scalesearch.errors import UserError
from scalesearch.costs.guard import check_spec
from scalesearch.models import build_model
from scalesearch.models.export_formats import ExportFormat, export_format
from scalesearch.models.weights import load_weights
from scalesearch.runs.export_files import EXPORTS_FILE, check_export_folder, export_targets, write_exports
from scalesearch.files import remove_stale_temporaries, temporary_sibling, write_atomic
from scalesearch.spec.netspec import NetSpec, load_spec_yaml


@dataclass(frozen=True)
class ExportRequest:
    target: Path  # an expand run directory or one member YAML
    format: str = "pt2"  # a registered export format (models/export_formats.py)
    out: Path | None = None  # default: TARGET_DIR/export-FORMAT
    seed: int = 0
    weights: Path | None = None  # a state_dict to export instead of the seed's weights


class ExportEvents:
    """What a front end hears while members are exported."""

    def planned(self, count: int) -> None: ...

    def exported(self, record: dict[str, Any]) -> None: ...


def run_export(request: ExportRequest, events: ExportEvents | None = None) -> dict[str, Any]:
    """Export and check every member; write exports.json; return its dict."""
    events = events or ExportEvents()
    fmt = export_format(request.format)
    fmt.needs()
    targets = export_targets(Path(request.target))
    out = Path(request.out) if request.out else _default_out(Path(request.target), request.format)
    if out.exists() and not out.is_dir():
        raise UserError(f"{{out}} {out}: exists and is not a folder")
    specs = [(name, load_spec_yaml(path)) for name, path in targets]  # all readable before any is written
    check_export_folder(out, Path(request.target), {f"{name}{ext}" for name, _ in targets
                                                    for ext in (fmt.suffix, ".yaml")})
    remove_stale_temporaries(out)  # half-written files of an export killed mid-write
    events.planned(len(specs))
    records = []
    for name, spec in specs:
        record = export_member(name, spec, fmt, out, request.seed, request.weights)
        records.append(record)
        events.exported(record)
    payload = {"kind": "export", "target": str(request.target), "source": str(Path(request.target).resolve()),
               "format": request.format,
               "seed": request.seed, "weights": None if request.weights is None else str(request.weights),
               "shape": "deployment (each member's own resolution, channels and classes; batch 1)",
               "members": records}
    write_exports(out, payload)
    failed = [r for r in records if not r["check"]["ok"]]
    payload["out"] = str(out)
    if failed:
        first = failed[0]
        raise UserError(f"{first['file']}: reloaded outputs differ from the eager model's by "
                        f"{first['check']['relative_diff']:.3g} of their largest magnitude (tolerance "
                        f"{first['check']['tolerance']:g}); "
                        f"recorded in {out / EXPORTS_FILE}")
    return payload


def _default_out(target: Path, fmt: str) -> Path:
    return (target if target.is_dir() else target.parent) / f"export-{fmt}"


def export_member(name: str, spec: NetSpec, fmt: ExportFormat, out: Path, seed: int,
                  weights: Path | None = None) -> dict[str, Any]:
    """Write one member in `fmt` under `out`, check the written file; its exports.json record."""
    check_spec(f"exporting {name} at {spec.resolution} px", spec)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build_model(spec).eval()
        example = torch.randn(1, spec.in_channels, spec.resolution, spec.resolution)
    if weights is not None:
        load_weights(model, weights)
    with torch.no_grad():
        expected = model(example)
    path = out / f"{name}{fmt.suffix}"
    out.mkdir(parents=True, exist_ok=True)
    _check_room(name, model, out)
    started = time.perf_counter()
    extra: dict[str, Any] = {}
    if fmt.spec_beside:
        spec_path = path.with_suffix(".yaml")
        write_atomic(spec_path, f"# {name}: the NetSpec of {path.name}\n" + spec.to_yaml())
        extra["spec_file"] = spec_path.name
    _write_via_temp(path, lambda tmp: fmt.write(model, example, tmp))
    written = time.perf_counter()
    got, runner = fmt.run(path, example)
    checked = time.perf_counter()
    got = torch.as_tensor(got).detach()
    scale = float(expected.abs().max())
    diff = float((got - expected).abs().max()) if got.shape == expected.shape else float("inf")
    relative = diff / scale if scale > 0 else (0.0 if diff == 0 else float("inf"))
    ok = got.shape == expected.shape and relative <= fmt.tolerance
    return {"member": name, "spec_hash": spec.spec_hash(), "file": path.name, "format": fmt.name,
            "bytes": path.stat().st_size, "input": [1, spec.in_channels, spec.resolution, spec.resolution],
            **extra,
            "check": {"ok": ok, "runner": runner, "max_abs_diff": diff, "max_abs_output": scale,
                      "relative_diff": relative, "tolerance": fmt.tolerance,
                      "tolerance_meaning": "max |reloaded - eager| <= tolerance x max |eager|",
                      "outputs": list(expected.shape)},
            "seconds": {"export": round(written - started, 3), "check": round(checked - written, 3)}}


ROOM_FACTOR = 1.25  # a written network against its tensors' bytes: weights plus graph and headers


def _check_room(name: str, model: torch.nn.Module, out: Path) -> None:
    """Refuse, in one line, a member the disk under `out` cannot hold: torch's writers on a
    full disk do not raise an OSError -- one aborted the whole process (exit 134)."""
    tensors = sum(t.numel() * t.element_size() for t in (*model.parameters(), *model.buffers()))
    need, free = ROOM_FACTOR * tensors + (1 << 20), shutil.disk_usage(out).free
    if free < need:
        raise UserError(f"export: {name} needs about {need / 1e6:,.0f} MB under {out}, which has "
                        f"{free / 1e6:,.0f} MB free: free some space or give --out another disk")


def _write_via_temp(path: Path, write) -> None:
    """Write with `write(tmp_path)` beside `path`, then rename: never half a file at `path`."""
    with temporary_sibling(path) as tmp:
        write(str(tmp))
