"""The calibrate report: the recipe chosen and why, every recipe's verdict and noise, every cell.

Built from calibrate.json only (what `scalesearch calibrate` saved); registered for run.json's
kind "calibrate", so `scalesearch report DIR` re-renders it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.files import read_json
from scalesearch.report.document import Report


def calibrate_report(run_dir: Path, info: dict[str, Any]) -> Report:
    document = read_json(Path(run_dir) / info.get("results", "calibrate.json"))
    report = Report(f"Proxy recipe for {document['baseline']}")
    report.paragraph(document["outcome"])
    budget = document["base_budget"]
    thresholds = document["thresholds"]
    report.paragraph(f"Every recipe changes the space's proxy ({budget.get('epochs')} epochs of "
                     f"{budget.get('train_images')} {document['data']} images, batch {budget.get('batch_size')}) in "
                     "its peak learning rate, warm-up and classifier learning-rate rule only. A unit fails to train "
                     f"when its loss goes non-finite, its first epoch averages more than {thresholds['loss_multiple']:g} "
                     f"x ln C, or its validation accuracy ends within {thresholds['chance_margin']:.0%} of the way "
                     "from chance to perfect (training/health.py); a recipe is dropped at its first failed unit. "
                     "Noise: the residual sd of the network + seed fit over every network of the recipe, in points.")
    report.heading("Recipes")
    report.table(pd.DataFrame([{
        "recipe": r["describe"] + (" (chosen)" if r["recipe"] == document["chosen"] else ""),
        "every unit trained": "yes" if r["passed"] else ("no" if r["failure"] else "not finished"),
        "noise (points)": "" if r["noise_sd"] is None else f"{r['noise_sd'] * 100:.2f} ({r['noise_df']} df)",
        "mean val acc": "" if r["mean_accuracy"] is None else f"{r['mean_accuracy']:.2%}",
        "first failure": r["failure"] or ""} for r in document["recipes"]]))
    report.heading("Every cell")
    report.table(pd.DataFrame([{
        "recipe": r["recipe"], "network": c["network"],
        "val acc by seed": ", ".join("" if v is None else f"{v:.1%}" for v in c["val_accuracy"]),
        "first-epoch loss by seed": ", ".join("" if v is None else f"{v:.2f}" for v in c["first_loss"]),
        "status": ", ".join(c["status"]), "seconds": f"{c['seconds']:.0f}"}
        for r in document["recipes"] for c in r["cells"] if c["seeds"]]),
        "A cell without units was not trained: its recipe had failed on an earlier one.")
    report.paragraph("`proxy.yaml` holds the chosen recipe as a proxy: block (`--proxy FILE` for grid, compare and "
                     "train, or paste it into a space's YAML); `calibrate.json` every number above; `units.jsonl` "
                     "each training. Rerun the same command to resume, or with more --lrs / --warmups / --seeds to "
                     "extend it.")
    return report
