"""The transfer report: the verdict in words, both rankings side by side, a slope chart.

Built from transfer.json only (what `scalesearch transfer` saved), so `scalesearch report
DIR` re-renders it any time.  Registered for run.json's kind "transfer".
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.report import plots
from scalesearch.report.document import Report
from scalesearch.files import read_json
from scalesearch.runs.transfer_files import RESULTS


def transfer_report(run_dir: Path, info: dict[str, Any]) -> Report:
    document = read_json(Path(run_dir) / info.get("results", RESULTS))
    at = where(document)
    report = Report(f"Does the φ = 1 choice hold at {at}? {document['baseline']}")
    report.paragraph("Verdict: " + document["verdict"]["sentence"])
    for line in answer_lines(document):
        report.paragraph(line)
    report.heading("Setup")
    for line in setup_lines(document):
        report.paragraph(line)
    report.heading(f"Rankings at φ = 1 and at {at}")
    confidence = document["config"]["confidence"]
    report.table(ranking_frame(document), "Validation accuracy at the proxy shape: least-squares mean over "
                 f"seeds (seed effects removed) ± half its {confidence:.0%} interval; ranks among the points "
                 f"below. φ = 1: the grid's own trainings; {at}: this run's. Δ leader: the difference to the "
                 f"{at} leader, ± its multiple-comparisons-with-the-best margin; contender: in the {confidence:.0%} "
                 "confidence set for the best (Hsu's MCB: the truly best point is in it with that probability). "
                 "A point the grid never trained has no φ = 1 rank.")
    report.heading(f"Rank at φ = 1 → rank at {at}")
    report.figure("transfer-slope", slope_png(document["points"], document["winner"]["label"], at),
                  f"One line per point from its rank among these points at φ = 1 to its rank at {at}; red: "
                  f"the φ = 1 winner. Filled marker at {at}: a contender for best; hollow: separated from "
                  "the leader beyond noise. Points without a φ = 1 rank start at the right only.")
    report.heading(f"The points grown to {at}")
    report.table(members_frame(document["points"]), "Each point's family member, (α, β, γ)^t, landed on "
                 f"{document['grid']['target']:g}^{phi_text(document['phi'])} × the baseline's FLOPs within the "
                 f"grid's ±{document['grid']['tolerance']:.0%}. Params and FLOPs (multiply-adds) at the "
                 "deployment shape; proxy px: what it trained at (the grid's base px × r).")
    report.paragraph("`transfer.json` and `transfer.csv` hold every number above; `units.jsonl` holds each "
                     "training (point × seed). Rerun the same command to finish or extend it (more --seeds, a "
                     "larger --top); rebuild this report with `scalesearch report DIR`.")
    return report


def where(document: dict[str, Any]) -> str:
    """Where the question was asked: "φ = 2", or a fidelity check's "φ = 1, 4× the grid's epochs"."""
    return document.get("at") or f"φ = {phi_text(document['phi'])}"


def phi_text(phi: float) -> str:
    return str(int(phi)) if float(phi).is_integer() else f"{phi:g}"


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def answer_lines(document: dict[str, Any]) -> list[str]:
    """The winner at phi and Kendall's tau, each with what its uncertainty means."""
    at = where(document)
    w, tau = document["winner"], document["tau"]
    lines = []
    if w.get("rank_phi") is None:
        lines.append(f"The φ = 1 winner {w['label']} has no finished training at {at} yet.")
    else:
        tie = {True: "among the contenders for best", False: "separated from the leader (worse beyond noise)",
               None: "not yet told apart from the others (no noise estimate)"}[w.get("best_or_tied")]
        lines.append(f"The φ = 1 winner {w['label']} ranks {w['rank_phi']} of {len(_ranked(document))} at {at} "
                     f"(mean {w['mean_phi']:.2%}, {_p_best(w['p_best_phi'])}); it is {tie}.")
    if not _finite(tau.get("tau")):
        lines.append("Kendall's τ: not defined yet (it needs two points ranked on both sides).")
    elif not (_finite(tau.get("low")) and _finite(tau.get("high"))):
        lines.append(f"Kendall's τ between the two rankings: {tau['tau']:+.2f} over {tau['points']} points; what "
                     "perfect transfer would give is unknown (a side without a noise estimate: train more seeds).")
    else:
        lines.append(f"Kendall's τ between the two rankings: {tau['tau']:+.2f} over {tau['points']} points "
                     f"(1 = the same order, −1 reversed). Perfect transfer — the same true order at φ, at these "
                     f"seeds' noise — would give {tau['low']:+.2f} to {tau['high']:+.2f} ({tau['confidence']:.0%} of "
                     f"{tau['resamples']} simulations), and τ ≤ {tau['tau']:+.2f} in {tau['share_at_most']:.0%} of them: "
                     "a reference for how much order noise alone scrambles, not a test; the verdict above is "
                     "the statement with an error rate.")
    return lines


def _ranked(document: dict[str, Any]) -> list[dict]:
    return [p for p in document["points"] if p.get("rank_phi") is not None]


def setup_lines(document: dict[str, Any]) -> list[str]:
    g, b = document["grid"], document["budgets"]
    config = document["config"]
    return [
        f"Grid: `{document['grid_dir']}` ({document['baseline']}, {g['points']} points trained, cost band "
        f"{g['target']:g}× ± {g['tolerance']:.0%}); its outcome: {g.get('outcome') or '—'}",
        (f"Points: the grid's contenders and top {config['top']}, and points spread over the rest of its "
         "ranking, its lowest included (a fidelity check)." if document.get("fidelity") else
         f"Points: the grid's top {config['top']} by mean validation accuracy, the paper's (1.2, 1.1, 1.15) "
         "and the grid's best single-dimension point where not among them."),
        f"Budget at φ = 1 (the grid): {_budget(b['phi1'])} ({b['phi1']['note']}). Budget at "
        f"{where(document)}: {_budget(b['phi'])} ({b['phi']['note']}); {config['seeds']} seed(s) "
        "per point, seed k the grid's seed k (same validation split, order and crops).",
        f"Accuracy: {document['shapes']['accuracy']}; cost: {document['shapes']['cost']}.",
    ]


def _budget(budget: dict[str, Any]) -> str:
    return (f"{budget['epochs']} epoch(s) of {budget['train_images']} images, batch {budget['batch_size']}, "
            f"lr {budget['lr']:g}")


def _accuracy(row: dict, side: str) -> str:
    mean, low, high = row.get(f"mean_{side}"), row.get(f"low_{side}"), row.get(f"high_{side}")
    if not _finite(mean):
        return "—"
    if _finite(low) and _finite(high):
        return f"{mean:.2%} ± {(high - low) / 2:.2%}"
    return f"{mean:.2%}"


def _gap(row: dict) -> str:
    diff, low, high = row.get("diff_phi"), row.get("diff_low_phi"), row.get("diff_high_phi")
    if not _finite(diff):
        return "leader" if row.get("rank_phi") == 1 else ""
    if not (_finite(low) and _finite(high)):
        return f"{diff * 100:+.1f}"
    return f"{diff * 100:+.1f} ({low * 100:+.1f}, {high * 100:+.1f})"


def ranking_frame(document: dict[str, Any]) -> pd.DataFrame:
    rows = sorted(document["points"], key=lambda r: (r.get("rank_phi") or 99, r.get("rank_phi1") or 99))
    return pd.DataFrame([{
        "point (α, β, γ)": r["label"], "why": r["roles"],
        "rank φ=1": r.get("rank_phi1") or "—", "val acc φ=1": _accuracy(r, "phi1"), "seeds φ=1": r.get("seeds_phi1") or 0,
        "rank φ": r.get("rank_phi") or "—", "val acc φ": _accuracy(r, "phi"), "seeds φ": r.get("seeds_phi") or 0,
        "Δ leader φ (points)": _gap(r),
        "contender φ": {True: "yes", False: "no"}.get(r.get("contender_phi"), "—"),
    } for r in rows])


def members_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "point (α, β, γ)": r["label"], "t": f"{r['t']:.3g}" if _finite(r.get("t")) else "—",
        "d": f"{r['depth']:.3g}", "w": f"{r['width']:.3g}", "r (px)": f"{r['resolution_mult']:.3g} ({r['resolution']})",
        "params": f"{r['params'] / 1e6:.2f}M", "GFLOPs": f"{r['flops'] / 1e9:.3f}",
        "FLOP ratio": f"{r['flops_ratio']:.2f}× (target {r['target_ratio']:.2f}×)"
                      + ("" if r["within_tolerance"] else " outside the band"),
        "adjustment": r.get("adjustment") or "", "proxy px": r["proxy_resolution"],
    } for r in rows])


def slope_png(rows: list[dict], winner: str, at: str) -> bytes:
    """Rank at phi = 1 (left) to rank at phi (right), one line per point; 1 at the top."""
    fig, ax = plots.plt.subplots(figsize=(plots.WIDTH, plots.HEIGHT + 0.6), layout="constrained")
    for row in rows:
        left, right = row.get("rank_phi1"), row.get("rank_phi")
        colour = "tab:red" if row["label"] == winner else "tab:gray"
        width = 2.5 if row["label"] == winner else 1.2
        if left is not None and right is not None:
            ax.plot([0, 1], [left, right], "-", color=colour, linewidth=width)
        if left is not None:
            ax.plot([0], [left], "o", color=colour)
            ax.annotate(row["label"], (0, left), textcoords="offset points", xytext=(-8, 0), ha="right",
                        va="center", fontsize=8)
        if right is not None:
            filled = row.get("contender_phi") is not False
            ax.plot([1], [right], "o", color=colour, markerfacecolor=colour if filled else "white")
            ax.annotate(row["label"] + ("" if left is not None else " (not in the grid)"), (1, right),
                        textcoords="offset points", xytext=(8, 0), ha="left", va="center", fontsize=8)
    ranks = [r for row in rows for r in (row.get("rank_phi1"), row.get("rank_phi")) if r is not None]
    top = max(ranks, default=1)
    ax.set_xlim(-1.0, 2.3)  # room for the labels either side
    ax.set_ylim(top + 0.5, 0.5)
    ax.set_yticks(range(1, top + 1))
    ax.set_xticks([0, 1], ["φ = 1 (grid)", at])
    ax.set_ylabel("rank (1 = best mean validation accuracy)")
    ax.set_title(f"Rank at φ = 1 → rank at {at}")
    ax.grid(True, axis="y", alpha=0.3)
    return plots.to_png(fig)


def _p_best(value) -> str:
    """p_best as the sentence gives it: missing without a noise estimate, not a certainty."""
    return f"p_best {value:.2f}, a model probability" if _finite(value) else "no p_best: no noise estimate"
