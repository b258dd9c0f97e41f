"""The grid report: candidates with both FLOP ratios, the winner, an accuracy heat map.

Built from trials.csv and best.json only (`scalesearch report DIR` calls it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.report.document import Report
from scalesearch.runs.files import read_json
from scalesearch.report.plots import plt, to_png


def grid_report(run_dir: Path, info: dict[str, Any]) -> Report:
    run_dir = Path(run_dir)
    rows = pd.read_csv(run_dir / "trials.csv")
    best = read_json(run_dir / "best.json")
    config = info.get("identity", {})
    report = Report(f"Compound-coefficient search for {best['baseline']}")
    report.paragraph(_summary(best, config))
    report.heading("Candidates")
    report.table(_table(rows), "Ratios are FLOPs / FLOPs(baseline) at the deployment shape (native "
                 "resolution, 3 channels, 1000 classes): α·β²·γ² = the family's growth per φ (the law); "
                 "rounded = the φ = 1 network as (α, β, γ) round; trained = the φ = 1 network after its "
                 "resolution (then width) was corrected to land on the target cost — what was trained. "
                 "Accuracy is proxy validation accuracy (selected on); test accuracy is reported only.")
    trained = rows[rows["val_accuracy"].notna() & (rows["role"] == "candidate")]
    if len(trained):
        report.heading("Accuracy over the grid")
        report.figure("grid-heatmap", _heatmap(rows[rows["role"] == "candidate"], trained, best),
                      "Validation accuracy by width (β) and resolution (γ) coefficient; each cell "
                      "names its depth coefficient α. Infeasible cells give their measured FLOP "
                      "ratio; blank cells were not on the grid or not run.")
    report.heading("Files")
    report.paragraph("`trials.csv` (one row per candidate), `best.json` (the winner, for "
                     "`scalesearch expand --from DIR`), `study.journal` (the Optuna study, unless "
                     "--storage named another). Rebuild this report with `scalesearch report DIR`.")
    return report


def _summary(best: dict[str, Any], config: dict[str, Any]) -> str:
    budget = config.get("budget", {})
    setup = (f"Proxy budget: {budget.get('epochs', '?')} epochs of {budget.get('train_images', '?')} "
             f"{config.get('data', '?')} images at {config.get('base_resolution', '?')} px × γ, "
             f"seed {budget.get('seed', '?')}; {best['feasible']} of {best['candidates']} candidates "
             f"feasible, {best['finished']} trained.")
    if "alpha" not in best:
        return f"No candidate has finished yet. {setup}"
    delta = best["val_accuracy"] - (best.get("baseline_val_accuracy") or math.nan)
    return (f"Winner: α = {best['alpha']:g}, β = {best['beta']:g}, γ = {best['gamma']:g} "
            f"(α·β²·γ² = {best['nominal_ratio']:.3f}: its family grows ~{best['nominal_ratio']:.2f}× per φ) — "
            f"validation accuracy {best['val_accuracy']:.2%} ({delta:+.2%} over the baseline), trained at "
            f"φ = 1 as a network of {best['flops_ratio']:.3f}× the baseline's FLOPs "
            f"(correction: {best.get('correction', 'none')}). "
            + ("" if best.get("complete") else "The search is not complete; this is the best so far. ")
            + setup)


def _table(rows: pd.DataFrame) -> pd.DataFrame:
    def pct(value: float) -> str:
        return "" if pd.isna(value) else f"{value:.2%}"

    return pd.DataFrame({
        "#": rows["index"], "role": rows["role"],
        "α": rows["alpha"].map("{:g}".format), "β": rows["beta"].map("{:g}".format),
        "γ": rows["gamma"].map("{:g}".format),
        "α·β²·γ²": rows["nominal_ratio"].map("{:.3f}".format),
        "rounded ×": rows["raw_ratio"].map("{:.3f}".format),
        "trained ×": rows["measured_ratio"].map("{:.3f}".format),
        "correction": rows["correction"].map(lambda c: "" if pd.isna(c) else c),
        "state": rows["state"], "val acc": rows["val_accuracy"].map(pct),
        "test acc": rows["test_accuracy"].map(pct),
        "seconds": rows["seconds"].map(lambda s: "" if pd.isna(s) else f"{s:.0f}"),
    })


def _heatmap(candidates: pd.DataFrame, trained: pd.DataFrame, best: dict[str, Any]) -> bytes:
    # Axes span every candidate, so untrained (infeasible) points keep their place.
    betas = sorted(candidates["beta"].unique())
    gammas = sorted(candidates["gamma"].unique())
    grid = [[math.nan] * len(betas) for _ in gammas]
    labels = [[""] * len(betas) for _ in gammas]
    for _, row in candidates[~candidates["feasible"].astype(bool)].iterrows():
        i, j = gammas.index(row["gamma"]), betas.index(row["beta"])
        labels[i][j] = f"infeasible\n×{row['measured_ratio']:.2f}"
    for _, row in trained.iterrows():
        i, j = gammas.index(row["gamma"]), betas.index(row["beta"])
        if math.isnan(grid[i][j]) or row["val_accuracy"] > grid[i][j]:
            grid[i][j] = row["val_accuracy"]
            labels[i][j] = f"{row['val_accuracy']:.1%}\nα={row['alpha']:g}"
    fig, ax = plt.subplots(figsize=(1.4 * len(betas) + 2.5, 1.0 * len(gammas) + 1.8))
    image = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
    ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas])
    ax.set_xlabel("β (width)")
    ax.set_ylabel("γ (resolution)")
    for i in range(len(gammas)):
        for j in range(len(betas)):
            if labels[i][j]:
                winner = (betas[j], gammas[i]) == (best.get("beta"), best.get("gamma"))
                color = ("grey" if math.isnan(grid[i][j]) else
                         "black" if grid[i][j] > _midpoint(grid) else "white")
                ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=8, color=color,
                        fontweight="bold" if winner else "normal")
    fig.colorbar(image, ax=ax, label="validation accuracy")
    ax.set_title("Proxy validation accuracy at φ = 1 (bold: winner)")
    return to_png(fig)


def _midpoint(grid: list[list[float]]) -> float:
    values = [v for row in grid for v in row if not math.isnan(v)]
    return (min(values) + max(values)) / 2 if values else 0.0
