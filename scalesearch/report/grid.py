"""The grid report: the outcome in words, every point with its interval, a heat map, the fit.

Built from points.csv, trials.csv and best.json only (`scalesearch report DIR` calls it).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.report.document import Report
from scalesearch.report.plots import plt, to_png
from scalesearch.files import read_json
from scalesearch.training.health import FAILED


def grid_report(run_dir: Path, info: dict[str, Any]) -> Report:
    run_dir = Path(run_dir)
    points = pd.read_csv(run_dir / "points.csv")
    units = pd.read_csv(run_dir / "trials.csv")
    best = read_json(run_dir / "best.json")
    config = info.get("identity", {})
    report = Report(f"Compound-coefficient search for {best['baseline']}")
    report.paragraph(best.get("outcome", "No candidate has finished yet."))
    report.paragraph(_summary(best, config))
    report.heading("Points")
    cost = config.get("grid", {}).get("cost", "flops")
    report.table(_table(points), f"Cost ratios are cost / the baseline's at the deployment shape (native "
                 "resolution, 3 channels, 1000 classes): α·β²·γ² = the family's growth per φ (the law); "
                 f"rounded, trained: the chosen cost ({cost}) of the φ = 1 network as (α, β, γ) round, and "
                 "after its resolution (then width) was corrected to land on the target — what was trained; "
                 "FLOPs, params, activations (and latency, where timed: median ± interquartile spread, "
                 f"{_latency_setting(config)}; for the latency tie-break every contender and the baseline are timed "
                 "in interleaved rounds, shown as the ratio with its interval over the rounds) of the trained "
                 "network side by side. "
                 f"Accuracy: proxy validation accuracy, least-squares mean over seeds with its "
                 f"{best.get('confidence', 0.9):.0%} interval; Δ leader: the paired difference to the leader "
                 "(seed effects removed) ± its multiple-comparisons-with-the-best margin; contenders: the "
                 f"{best.get('confidence', 0.9):.0%} confidence set for the best (Hsu's MCB: the truly best "
                 "point is in it with that probability); p_best (model): a model probability — the share of "
                 "posterior draws (noise from its posterior, means shrunk) in which the point is best, true "
                 "if the model is; the contender set carries the guarantee. Test accuracy (first seed) is "
                 "reported only.")
    trained = points[points["mean"].notna() & (points["role"] == "candidate")]
    if best.get("front"):
        report.heading("Accuracy vs cost: the Pareto front")
        report.paragraph(f"Every point was landed on one of the cost multiples {', '.join(_targets(points))} "
                         f"of the baseline's {cost}; the front holds the points no other beats on both mean "
                         "validation accuracy and cost. `scalesearch expand --from DIR --pick front:K` grows the "
                         "K-th (cheapest first).")
        report.table(pd.DataFrame([{"K": k, "α": f"{p['alpha']:g}", "β": f"{p['beta']:g}", "γ": f"{p['gamma']:g}",
                                    f"{cost} ×": f"{p['cost_ratio']:.2f}", "FLOPs ×": f"{p['flops_ratio']:.2f}",
                                    "val acc": f"{p['mean']:.2%}", "seeds": p["seeds"]}
                                   for k, p in enumerate(best["front"])]))
        report.figure("pareto", _front_plot(trained, best["front"], cost),
                      f"Mean validation accuracy against {cost} (× the baseline's) for every trained point; the "
                      "line joins the Pareto front.")
    elif len(trained) or (points["state"] == FAILED).any():
        report.heading("Accuracy over the grid")
        report.figure("grid-heatmap", _heatmap(points[points["role"] == "candidate"], trained, best),
                      "Validation accuracy by width (β) and resolution (γ) coefficient: mean ± half its "
                      "interval, seeds and α per cell. Infeasible cells give their measured cost ratio; "
                      "\"failed to train\": a point whose training blew up or stayed at chance (not ranked); "
                      "blank cells were not on the grid or not run; bold: the leader.")
    if best.get("fit"):
        report.heading("A smooth answer")
        report.paragraph(_fit_text(best["fit"]))
    rejected = int((units["state"] == "rejected").sum()) if len(units) else 0
    report.heading("Files")
    report.paragraph("`points.csv` (one row per point, with its statistics), `trials.csv` (one row per "
                     "training: point × seed), `best.json` (the outcome, for `scalesearch expand --from DIR`), "
                     "`study.journal` (the Optuna study, unless --storage named another). "
                     + (f"{rejected} proposals of the sampler fell outside the feasible set and were not "
                        "trained. " if rejected else "")
                     + "Rebuild this report with `scalesearch report DIR`.")
    return report


def _summary(best: dict[str, Any], config: dict[str, Any]) -> str:
    budget = config.get("budget", {})
    noise = best.get("noise") or {}
    noise_text = ("no noise estimate yet (one seed per point)" if noise.get("kind") == "none" else
                  f"noise of one training {noise.get('sd', math.nan):.2%} ({noise.get('df')} degrees of freedom, "
                  "seed-paired)")
    setup = (f"Proxy budget: {budget.get('epochs', '?')} epochs of {budget.get('train_images', '?')} "
             f"{config.get('data', '?')} images at {config.get('base_resolution', '?')} px × γ, base seed "
             f"{budget.get('seed', '?')}; {best['feasible']} of {best['candidates']} candidates feasible, "
             f"{best['finished']} trained, {best.get('trainings', '?')} trainings in all ({best.get('mode')}); "
             f"{noise_text}.")
    if "alpha" not in best:
        return setup
    over = best.get("over_baseline") or {}
    gain = "" if not over or over.get("mean") is None else (
        f" It {over['verdict'] if over.get('verdict') != 'undecided' else 'is undecided against'} the baseline "
        f"({over['mean'] * 100:+.1f} points" + ("" if over.get("low") is None else
                                                 f", {over['low'] * 100:+.1f} to {over['high'] * 100:+.1f}") + ").")
    return (f"Leader: α = {best['alpha']:g}, β = {best['beta']:g}, γ = {best['gamma']:g} "
            f"(α·β²·γ² = {best['nominal_ratio']:.3f}: its family grows ~{best['nominal_ratio']:.2f}× per φ), "
            f"validation accuracy {best['val_accuracy']:.2%}, trained at φ = 1 as a network of "
            f"{best.get('cost_ratio', best['flops_ratio']):.3f}× the baseline's {best.get('cost', 'flops')} "
            f"({best['flops_ratio']:.3f}× its FLOPs; correction: {best.get('correction', 'none')})."
            + gain + " " + ("" if best.get("complete") else "The search is not complete; this is the state so far. ")
            + setup)


def _latency_setting(config: dict[str, Any]) -> str:
    grid = config.get("grid", {})
    return f"{grid.get('latency_threads', 1)} thread(s), batch {grid.get('latency_batch', 1)}"


def _fit_text(fit: dict[str, Any]) -> str:
    where = (f"A weighted quadratic in (log β, log γ) over {fit['points']} points peaks at β = {fit['beta']:g}, "
             f"γ = {fit['gamma']:g} (α = {fit['alpha']:g} on the law), predicting {fit['predicted']:.2%}")
    if fit.get("recommended"):
        return f"{where}; {fit['reason']}, so it is a fair answer: `scalesearch expand --from DIR --pick fit`."
    return f"{where}; but {fit['reason']}. Not recommended."


def _cell(value: Any, fmt: str) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)


def _latency_cell(p: dict[str, Any]) -> str:
    """The point's latency over the baseline's: measured as its cost (± its spread), or timed
    side by side for the tie-break (its interval over the rounds)."""
    if not pd.isna(p.get("latency_ratio")):
        return f"{p['latency_ratio']:.2f} ±{p['latency_spread']:.0%}"
    if not pd.isna(p.get("tie_latency_ratio")):
        return f"{p['tie_latency_ratio']:.2f} ({p['tie_latency_low']:.2f}–{p['tie_latency_high']:.2f})"
    return ""


def _table(points: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for p in points.to_dict("records"):
        interval = "" if pd.isna(p.get("low")) else f"{p['low']:.1%} – {p['high']:.1%}"
        diff = "" if pd.isna(p.get("diff")) else (
            f"{p['diff'] * 100:+.1f}" + ("" if pd.isna(p.get("diff_low")) else
                                         f" ({p['diff_low'] * 100:+.1f}, {p['diff_high'] * 100:+.1f})"))
        state = p["state"] + (" · contender" if p.get("contender") is True else "")
        rows.append({"#": p["index"], "role": p["role"], "α": f"{p['alpha']:g}", "β": f"{p['beta']:g}",
                     "γ": f"{p['gamma']:g}", "α·β²·γ²": f"{p['nominal_ratio']:.3f}",
                     "rounded ×": f"{p['raw_ratio']:.3f}", "trained ×": f"{p['measured_ratio']:.3f}",
                     "FLOPs ×": f"{p['flops_ratio']:.2f}", "params ×": f"{p['params_ratio']:.2f}",
                     "acts ×": f"{p['activations_ratio']:.2f}",
                     "latency ×": _latency_cell(p),
                     "correction": "" if pd.isna(p.get("correction")) else p["correction"], "state": state,
                     "seeds": "" if not p.get("seeds") else int(p["seeds"]), "val acc": _cell(p.get("mean"), ".2%"),
                     "interval": interval, "Δ leader (points)": diff,
                     "p_best (model)": "" if p["role"] == "baseline" else _cell(p.get("p_best_model"), ".2f"),
                     "test acc": _cell(p.get("test_accuracy"), ".2%")})
    return pd.DataFrame(rows)


def _heatmap(candidates: pd.DataFrame, trained: pd.DataFrame, best: dict[str, Any]) -> bytes:
    # Axes span every candidate, so untrained (infeasible) points keep their place.
    betas = sorted(candidates["beta"].unique())
    gammas = sorted(candidates["gamma"].unique())
    grid = [[math.nan] * len(betas) for _ in gammas]
    labels = [[""] * len(betas) for _ in gammas]
    for _, row in candidates[~candidates["feasible"].astype(bool)].iterrows():
        i, j = gammas.index(row["gamma"]), betas.index(row["beta"])
        labels[i][j] = f"infeasible\n×{row['measured_ratio']:.2f}"
    for _, row in candidates[candidates["state"] == FAILED].iterrows():
        i, j = gammas.index(row["gamma"]), betas.index(row["beta"])
        labels[i][j] = f"failed to train\nα={row['alpha']:g}"
    for _, row in trained.iterrows():
        i, j = gammas.index(row["gamma"]), betas.index(row["beta"])
        if math.isnan(grid[i][j]) or row["mean"] > grid[i][j]:
            grid[i][j] = row["mean"]
            half = "" if pd.isna(row.get("low")) else f" ± {(row['high'] - row['low']) / 2:.1%}"
            labels[i][j] = f"{row['mean']:.1%}{half}\nα={row['alpha']:g}, {int(row['seeds'])} seed(s)"
    fig, ax = plt.subplots(figsize=(1.7 * len(betas) + 2.5, 1.0 * len(gammas) + 1.8))
    image = ax.imshow(grid, origin="lower", cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(betas)), [f"{b:g}" for b in betas])
    ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas])
    ax.set_xlabel("β (width)")
    ax.set_ylabel("γ (resolution)")
    for i in range(len(gammas)):
        for j in range(len(betas)):
            if labels[i][j]:
                leader = (betas[j], gammas[i]) == (best.get("beta"), best.get("gamma"))
                color = ("grey" if math.isnan(grid[i][j]) else
                         "black" if grid[i][j] > _midpoint(grid) else "white")
                ax.text(j, i, labels[i][j], ha="center", va="center", fontsize=7, color=color,
                        fontweight="bold" if leader else "normal")
    fig.colorbar(image, ax=ax, label="validation accuracy (mean over seeds)")
    ax.set_title("Proxy validation accuracy at φ = 1 (bold: the leader)")
    return to_png(fig)


def _targets(points: pd.DataFrame) -> list[str]:
    return [f"{t:g}×" for t in sorted(points.loc[points["role"] == "candidate", "target"].unique())]


def _front_plot(trained: pd.DataFrame, front: list[dict[str, Any]], cost: str) -> bytes:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")
    ax.scatter(trained["measured_ratio"], trained["mean"] * 100, color="tab:grey", label="trained points")
    ax.plot([p["cost_ratio"] for p in front], [p["mean"] * 100 for p in front], "o-", color="tab:red",
            label="Pareto front")
    for k, p in enumerate(front):
        ax.annotate(f"{k}: ({p['alpha']:g}, {p['beta']:g}, {p['gamma']:g})", (p["cost_ratio"], p["mean"] * 100),
                    textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xlabel(f"{cost} (× the baseline's, deployment shape)")
    ax.set_ylabel("validation accuracy, proxy shape (%)")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return to_png(fig)


def _midpoint(grid: list[list[float]]) -> float:
    values = [v for row in grid for v in row if not math.isnan(v)]
    return (min(values) + max(values)) / 2 if values else 0.0
