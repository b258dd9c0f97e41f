"""A grid run's results: one row per candidate from the study, trials.csv and best.json.

Rows are read from the Optuna storage (the record of truth, shared by all workers) and
saved into the run directory before anything is printed; `scalesearch report DIR`
rebuilds the report from these files alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
from optuna.trial import TrialState

from scalesearch.search.candidates import Candidate
from scalesearch.errors import UserError
from scalesearch.runs.files import read_json, write_atomic, write_json
from scalesearch.spec.scaling import Coefficients
from scalesearch.search.study import SearchConfig
from scalesearch.search.worker import point_status

COLUMNS = ["index", "role", "alpha", "beta", "gamma", "nominal_ratio", "raw_ratio", "measured_ratio",
           "depth", "width", "resolution", "correction", "feasible", "state", "val_accuracy",
           "test_accuracy", "epochs", "proxy_resolution", "seconds", "images_per_second", "trial", "note"]


def collect_rows(study: optuna.Study, candidates: list[Candidate]) -> list[dict[str, Any]]:
    status = point_status(study)
    rows = []
    for c in candidates:
        row: dict[str, Any] = {**c.as_dict(), "state": "not run", "val_accuracy": math.nan,
                               "test_accuracy": math.nan, "epochs": 0, "proxy_resolution": 0,
                               "seconds": math.nan, "images_per_second": math.nan, "trial": None}
        trial = status.done.get(c.index) or status.running.get(c.index)
        if not c.feasible:
            row["state"] = "infeasible"
        elif trial is not None:
            row["trial"] = trial.number
            row["state"] = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned",
                            TrialState.RUNNING: "running"}[trial.state]
            for key, attr in (("val_accuracy", "val_accuracy"), ("test_accuracy", "test_accuracy"),
                              ("epochs", "epochs"), ("proxy_resolution", "resolution"), ("seconds", "seconds"),
                              ("images_per_second", "images_per_second")):
                value = trial.user_attrs.get(attr)
                row[key] = math.nan if value is None and key != "epochs" else (value or row[key])
            if trial.state == TrialState.PRUNED and trial.intermediate_values:
                last = max(trial.intermediate_values)
                row["val_accuracy"], row["epochs"] = trial.intermediate_values[last], last
            if trial.user_attrs.get("status") == "diverged":
                row["state"] = "diverged"
        elif status.failures.get(c.index):
            row["state"] = f"failed x{status.failures[c.index]}"
        rows.append({k: row.get(k) for k in COLUMNS})
    return rows


def best_row(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The completed candidate (not the baseline) with the highest validation accuracy."""
    done = [r for r in rows if r["role"] == "candidate" and r["state"] == "complete"
            and r["val_accuracy"] is not None and math.isfinite(r["val_accuracy"])]
    return max(done, key=lambda r: (r["val_accuracy"], -r["index"])) if done else None


def summarize(rows: list[dict[str, Any]], config: SearchConfig, study_name: str,
              storage: str) -> dict[str, Any]:
    best = best_row(rows)
    baseline = next(r for r in rows if r["role"] == "baseline")
    feasible = [r for r in rows if r["feasible"] and r["role"] == "candidate"]
    finished = [r for r in feasible if r["state"] in ("complete", "pruned", "diverged")]
    summary: dict[str, Any] = {
        "baseline": config.baseline, "study": study_name, "storage": storage,
        "complete": len(finished) == len(feasible) and baseline["state"] == "complete",
        "candidates": len(rows) - 1, "feasible": len(feasible), "finished": len(finished),
        "baseline_val_accuracy": baseline["val_accuracy"],
        "baseline_test_accuracy": baseline["test_accuracy"],
        "selected_on": "validation split carved from the training data (test only reported)",
        "target": config.grid.target, "tolerance": config.grid.tolerance,
        "flops_shape": "deployment (the space's native resolution, 3 channels, 1000 classes)",
        "train_shape": f"proxy ({config.data}, base {config.base_resolution} px x gamma)",
    }
    if best:
        summary.update({
            "alpha": best["alpha"], "beta": best["beta"], "gamma": best["gamma"],
            "val_accuracy": best["val_accuracy"], "test_accuracy": best["test_accuracy"],
            "flops_ratio": best["measured_ratio"], "nominal_ratio": best["nominal_ratio"],
            "raw_ratio": best["raw_ratio"],
            "phi1_network": {"depth": best["depth"], "width": best["width"], "resolution": best["resolution"]},
            "correction": best["correction"] or "none",
        })
    return summary


def save_grid_tables(run_dir: Path, rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    """trials.csv and best.json, each written atomically."""
    write_atomic(run_dir / "trials.csv", pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False))
    write_json(run_dir / "best.json", summary)


@dataclass(frozen=True)
class GridChoice:
    """What a grid run hands on: its coefficients, the cost multiple they were searched
    for (the family's growth per phi) and the baseline they belong to."""

    coefficients: Coefficients
    target: float
    baseline: str


def read_grid_choice(run_dir: Path) -> GridChoice:
    """The choice in a grid run directory's best.json (`expand/compare --from`)."""
    path = Path(run_dir) / "best.json"
    if not path.is_file():
        raise UserError(f"{{from}} {run_dir}: no best.json there (point {{from}} at the output "
                        "directory of `scalesearch grid`)")
    best = read_json(path)
    try:
        coefficients = Coefficients(float(best["alpha"]), float(best["beta"]), float(best["gamma"]))
        target = float(best.get("target") or coefficients.product)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"{path}: no numeric alpha, beta and gamma (has the grid finished a candidate?)") from None
    return GridChoice(coefficients, target, str(best.get("baseline", "")))


def read_grid_coefficients(run_dir: Path) -> Coefficients:
    """alpha, beta, gamma of a grid run directory's best.json."""
    return read_grid_choice(run_dir).coefficients
