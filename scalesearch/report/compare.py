"""The compare report: a Table-3-shaped table and a Figure-8-shaped plot from a compare run.

With `--preset paper-table3` it adds the paper's own Table 3 beside ours and a sentence on
agreement (report/compare_paper.py); with two or more targets per method, a Figure-3-style
panel per method (accuracy against FLOPs at 1x and each target).

Built from what `scalesearch compare` saved (compare.json in the run directory), never
from console output, so `scalesearch report DIR` re-renders a finished or half-finished
run.  Registered for run.json's kind "compare" with the report registry; the generic
writers make report.md (+ figures/compare.png) and a self-contained report.html.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.report import compare_paper, plots
from scalesearch.report.costs import cost_correlations
from scalesearch.report.document import Report
from scalesearch.files import read_json

KIND = "compare"
SINGLE = ("width", "depth", "resolution")
# Colours fixed per method so the same method looks the same in every report.
COLOURS = {"width": "tab:blue", "depth": "tab:green", "resolution": "tab:orange",
           "compound": "tab:red", "fast": "tab:purple"}


def compare_report(run_dir: Path, info: dict[str, Any]) -> Report:
    document = read_json(Path(run_dir) / info.get("results", "compare.json"))
    rows, config = document["rows"], document["config"]
    report = Report(f"Scaling {config['baseline']}: single dimension vs compound at matched FLOPs")
    for line in setup_lines(document):
        report.paragraph(line)
    report.heading("Methods at matched FLOPs")
    report.table(table_frame(rows), "d, w, r: depth, width and resolution multipliers (r's pixels at the "
                 "deployment shape in brackets). Params, FLOPs (multiply-adds) and activations at the "
                 "deployment shape; FLOP ratio = FLOPs / the baseline's. Accuracy: mean ± std over seeds "
                 "at the proxy shape. compound − it: compound's test accuracy minus the row's at the same "
                 f"target, with its {config.get('confidence', 0.9):.0%} simultaneous interval (Dunnett, compound "
                 "the control: every interval at a target holds at once; least squares over methods × seeds, "
                 "seed effects removed); * marks a difference beyond noise.")
    correlation = cost_correlations(rows)
    if correlation:
        report.paragraph(f"Latency: median ± interquartile spread of a forward pass at the deployment shape, "
                         f"{config.get('latency_threads', 1)} thread(s), batch {config.get('latency_batch', 1)}, "
                         f"on {config.get('machine')}. {correlation}")
    lines = verdicts(rows, config.get("confidence", 0.9), config.get("baseline"))
    if lines:
        report.heading("Does compound scaling win?")
        for line in lines:
            report.paragraph(line)
    beside_paper(report, rows, config)
    report.heading("Accuracy vs FLOPs")
    report.figure("compare", figure_png(rows, config["baseline"]),
                  "Test accuracy (proxy shape) against FLOPs (deployment shape), one line per method "
                  "from the baseline through each target; bars are ± one std over seeds.")
    if has_figure3(rows):
        report.figure("figure3", figure3_png(rows, config["baseline"]),
                      "In the style of the paper's Figure 3: one panel per method, test accuracy (proxy "
                      "shape) against FLOPs (deployment shape, log scale) from the baseline (1×) through "
                      "each target, each point labelled with its setting; bars are ± one std over seeds; "
                      "compound's line repeated dashed in the single-dimension panels.")
    report.paragraph("`compare.json` and `compare.csv` hold every number above; `units.jsonl` holds each "
                     "training (variant x seed). Rerun the same command to finish or extend it; "
                     "rebuild this report with `scalesearch report DIR`.")
    return report


# -- content -------------------------------------------------------------------------------

def table_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{
        "target": row["target"], "method": row["method"], "d": f"{row['depth']:.3g}",
        "w": f"{row['width']:.3g}", "r (px)": f"{row['resolution_mult']:.3g} ({row['resolution']})",
        "params": f"{row['params'] / 1e6:.2f}M", "GFLOPs": f"{row['flops'] / 1e9:.3f}",
        "FLOP ratio": f"{row['flops_ratio']:.2f}×", "activations": f"{row['activations'] / 1e6:.1f}M",
        **({"latency (ms)": f"{row['latency_ms']:.1f} ±{row['latency_spread']:.0%}"}
           if row.get("latency_ms") is not None else {}),
        "test accuracy": accuracy_cell(row, "test"), "val accuracy": accuracy_cell(row, "val"),
        "compound − it (points)": gap_to_compound(row),
    } for row in rows])


def gap_to_compound(row: dict) -> str:
    """compound's test accuracy minus this row's, with its interval; * beyond noise."""
    if row.get("vs_compound") is None:
        return ""
    low, high = row.get("vs_compound_low"), row.get("vs_compound_high")
    if low is None or not math.isfinite(low):
        return f"{row['vs_compound'] * 100:+.1f}"
    star = "*" if low > 0 or high < 0 else ""
    return f"{row['vs_compound'] * 100:+.1f} ({low * 100:+.1f}, {high * 100:+.1f}){star}"


def accuracy_cell(row: dict, split: str) -> str:
    mean, std = row.get(f"{split}_accuracy"), row.get(f"{split}_std")
    if mean is None:
        return "failed to train" if row.get("failed") else "not trained yet"
    return f"{mean:.2%}" + (f" ± {std:.2%}" if std is not None else "")


def failure_lines(rows: list[dict], baseline: str | None = None) -> list[str]:
    """One line per variant whose trainings failed to train: compared with nothing."""
    return [f"{r['target']}: {r['method']}: {r['failed']} of {r.get('trained') or r['failed']} trainings failed to "
            f"train ({r.get('failed_reason') or 'diverged'}): this proxy cannot rank it, so it is compared with "
            f"nothing; run `scalesearch calibrate --baseline {baseline or 'BASELINE'}` for a recipe under which it trains."
            for r in rows if r.get("failed")]


def verdicts(rows: list[dict], confidence: float = 0.9, baseline: str | None = None) -> list[str]:
    """Per target, compound against every method, in words: beats / ties / loses to, with
    the test-accuracy difference and its interval (beyond noise only when it excludes 0)."""
    lines = failure_lines(rows, baseline)
    for target in dict.fromkeys(r["target"] for r in rows if r["method"] not in ("baseline", "compound")):
        at = [r for r in rows if r["target"] == target and r.get("vs_compound") is not None]
        for row in at:
            gap = row["vs_compound"] * 100
            if row.get("vs_compound_low") is None or not math.isfinite(row["vs_compound_low"]):
                lines.append(f"{target}: compound vs {row['method']}: {gap:+.2f} points of test accuracy, "
                             "undecided (one seed: no noise estimate; use --seeds 3)")
                continue
            low, high = row["vs_compound_low"] * 100, row["vs_compound_high"] * 100
            word = row["verdict"].split(" ", 1)[1].rsplit(" ", 1)[0]  # beats | ties | loses to
            noise = "beyond noise" if word != "ties" else "within noise"
            lines.append(f"{target}: compound {word} {row['method']}: {gap:+.2f} points of test accuracy "
                         f"({confidence:.0%} simultaneous interval {low:+.2f} to {high:+.2f}; {noise}).")
    return lines


def beside_paper(report: Report, rows: list[dict], config: dict) -> None:
    """The paper's Table 3 beside ours, for runs made with --preset paper-table3."""
    at = compare_paper.paper_rows(rows)
    if not at:
        return
    confidence = config.get("confidence", 0.9)
    report.heading("Beside the paper (Tan & Le 2019, Table 3)")
    report.paragraph(" ".join(filter(None, [compare_paper.agreement(rows, config["baseline"], confidence),
                                            f"Trained at {compare_paper.budget_words(config)}.",
                                            compare_paper.flops_note(rows)])))
    report.table(compare_paper.paper_frame(at),
                 "Paper: its settings, FLOP ratio (its printed FLOPs / the baseline's), ImageNet top-1 (%) and "
                 "gain over the baseline (points); compound − it: the paper's compound top-1 minus the row's. "
                 "Ours: FLOP ratio measured at the deployment shape, test accuracy (proxy shape) mean ± std, "
                 f"gain over the baseline and compound − it (points) with their {confidence:.0%} simultaneous "
                 "intervals (Dunnett, the baseline resp. compound the control); * beyond noise. — : no cell in "
                 "the paper.")
    report.paragraph(compare_paper.source_line())


def setup_lines(document: dict) -> list[str]:
    c = document["config"]
    coefficients = c["coefficients"]
    return [
        f"Baseline: {c['baseline']} ({c['baseline_source']}); targets: {', '.join(c['targets'])}; "
        f"methods: {', '.join(c['methods'])}.",
        f"Compound coefficients: alpha={coefficients['alpha']:g}, beta={coefficients['beta']:g}, "
        f"gamma={coefficients['gamma']:g} ({c['coefficients_source']}); fast: d=s^0.1, w=s^0.4, r=s^0.05 "
        "(Dollár et al., CVPR 2021).",
        f"Proxy training: {c['data']}, {c['train_images']} training images, {compare_paper.budget_words(c)}, "
        f"batch {c['batch_size']}, lr {c['lr']:g}, base {c['proxy_resolution']} px x r; "
        f"{c['seeds']} seed(s) per variant (mean ± std).",
        "Params, FLOPs (multiply-adds) and activations are at the deployment shape (the baseline's own "
        "resolution x r, 3 channels, 1000 classes); accuracies at the proxy shape. Validation is "
        "carved from the training data; test is the source's own test split.",
    ]


def figure_png(rows: list[dict], baseline: str) -> bytes:
    """Test accuracy vs FLOPs, one line per method from the baseline through each target."""
    fig, ax = plots.plt.subplots(figsize=(plots.WIDTH, plots.HEIGHT + 0.6), layout="constrained")
    base = next((r for r in rows if r["method"] == "baseline" and r.get("test_accuracy") is not None), None)
    for method in dict.fromkeys(r["method"] for r in rows if r["method"] != "baseline"):
        points = [r for r in rows if r["method"] == method and r.get("test_accuracy") is not None]
        if not points:
            continue
        points = sorted([base, *points] if base else points, key=lambda r: r["flops"])
        ax.errorbar([p["flops"] / 1e9 for p in points], [p["test_accuracy"] * 100 for p in points],
                    yerr=[(p.get("test_std") or 0) * 100 for p in points], marker="o", capsize=3,
                    label=method, color=COLOURS.get(method))
    if base:
        ax.plot([base["flops"] / 1e9], [base["test_accuracy"] * 100], "k*", markersize=12, label="baseline")
    ax.set_xlabel("GFLOPs (multiply-adds, deployment shape)")
    ax.set_ylabel("test accuracy, proxy shape (%)")
    ax.set_title(f"{baseline}: accuracy vs FLOPs by scaling method")
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    return plots.to_png(fig)


def has_figure3(rows: list[dict]) -> bool:
    """Figure 3 needs a method measured at two or more FLOP levels beyond 1x (e.g. 2x and 4x)."""
    return any(len(_measured(rows, m)) >= 2 for m in ("width", "depth", "resolution", "compound"))


def figure3_png(rows: list[dict], baseline: str) -> bytes:
    """One panel per method (the paper's Figure 3 shape, with compound added): accuracy
    against FLOPs from the baseline through each target, points labelled with the setting."""
    base = next((r for r in rows if r["method"] == "baseline" and r.get("test_accuracy") is not None), None)
    methods = [m for m in ("width", "depth", "resolution", "compound") if _measured(rows, m)]
    series = {m: sorted(([base] if base else []) + _measured(rows, m), key=lambda r: r["flops"]) for m in methods}
    return plots.panels({m: [_point(r) for r in points] for m, points in series.items()},
                        title=f"{baseline}: scaling one dimension at a time, and compound",
                        xlabel="GFLOPs (deployment shape)", ylabel="test accuracy, proxy (%)",
                        colours=COLOURS, reference="compound")


def _measured(rows: list[dict], method: str) -> list[dict]:
    return [r for r in rows if r["method"] == method and r.get("test_accuracy") is not None]


def _point(row: dict) -> tuple[float, float, float, str]:
    """(GFLOPs, accuracy %, std %, label): the label is the setting, as Figure 3 marks w, d, r."""
    if row["method"] == "baseline":
        label = "1×"
    elif row["knob"] == "phi":
        label = f"d={row['depth']:.2g} w={row['width']:.2g} r={row['resolution_mult']:.2g}"
    else:
        label = f"{row['knob']}={row['setting']:.3g}"
    return row["flops"] / 1e9, row["test_accuracy"] * 100, (row.get("test_std") or 0) * 100, label
