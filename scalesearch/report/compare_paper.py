"""The paper's Table 3 beside a `compare --preset paper-table3` run, in a table and in words.

Rendering only: the rows already carry our numbers (compare.summarise: the gain over the
baseline and compound's difference to each method, both Dunnett-simultaneous) and the
paper's cell (compare.beside_paper, from spec/paper_table3.yaml).  The paper's numbers
are ImageNet top-1 after full training at 224 px x r; ours are test accuracy at the proxy
shape and budget, so gains and orderings compare, absolute accuracies do not.
"""

from __future__ import annotations

import math

import pandas as pd

from scalesearch.spec.presets import paper_table3

# How the paper names the networks it scaled (spec/paper_table3.yaml's keys are ours).
NAMES = {"mobilenetv1": "MobileNetV1", "mobilenetv2": "MobileNetV2", "resnet50": "ResNet-50"}
SINGLE = ("depth", "width", "resolution")


def paper_rows(rows: list[dict]) -> list[dict]:
    """The baseline and the rows at the paper's settings, when the run has them."""
    if not any(r["target"] == "table3" for r in rows):
        return []
    return [r for r in rows if r["method"] == "baseline" or r["target"] == "table3"]


def paper_frame(rows: list[dict]) -> pd.DataFrame:
    """Per method: the paper's setting, FLOP ratio, top-1 and gain beside our measured
    FLOP ratio, test accuracy, gain (with its interval) and compound's difference to it."""
    settings = paper_table3().settings
    compound_top1 = next((r.get("paper_top1") for r in rows if r["method"] == "compound"), None)
    return pd.DataFrame([{
        "method": row["method"],
        "d, w, r": "1, 1, 1" if row["method"] == "baseline" else
        ", ".join(f"{x:g}" for x in settings.get(row["method"], (row["depth"], row["width"], row["resolution_mult"]))),
        "FLOP ratio: paper": _number(row.get("paper_flops_ratio"), "{:.2f}×"),
        "FLOP ratio: ours": f"{row['flops_ratio']:.2f}×",
        "top-1: paper": _number(row.get("paper_top1"), "{:.1f}"),
        "gain: paper": "" if row["method"] == "baseline" else _number(row.get("paper_gain"), "{:+.1f}"),
        "test acc: ours": _accuracy(row),
        "gain: ours": _interval(row, "gain"),
        "compound − it: paper": _paper_gap(row, compound_top1),
        "compound − it: ours": _interval(row, "vs_compound", star=True),
    } for row in rows])


def agreement(rows: list[dict], network: str, confidence: float = 0.9) -> str:
    """One sentence: does compound beat the paper's single-dimension rows here, as it does
    in the paper for every network?  Judged on the Dunnett intervals (compound the control)."""
    at = {r["method"]: r for r in rows if r["target"] == "table3" and r["method"] in SINGLE
          # a row the paper has no cell for (MobileNetV1's depth) is not trained: not "yet to come"
          and not (r.get("paper_top1") is None and r.get("vs_compound") is None)}
    network = NAMES.get(network, network)
    if not at or not any(r["method"] == "compound" and r["target"] == "table3" for r in rows):
        return f"{network}: not run (the paper's rows need every single-dimension method and compound)."
    if any(r.get("vs_compound") is None for r in at.values()):
        return f"{network}: not measured yet (rows without accuracies)."
    if any(r.get("vs_compound_low") is None or not math.isfinite(r["vs_compound_low"]) for r in at.values()):
        return f"{network}: undecided (one seed: no noise estimate; use --seeds 3)."
    best = min(at.values(), key=lambda r: r["vs_compound"])  # the method closest to, or above, compound
    level = f"{confidence:.0%} simultaneous interval"
    if best["vs_compound"] < 0:
        gap, low, high = -best["vs_compound"] * 100, -best["vs_compound_high"] * 100, -best["vs_compound_low"] * 100
        interval = f"({level} {low:+.1f} to {high:+.1f})"
        if best["vs_compound_high"] < 0:
            return (f"{network}: disagrees: {best['method']} beats compound by {gap:.1f} points {interval}, "
                    "beyond noise.")
        return (f"{network}: disagrees in direction, within noise: {best['method']} is {gap:.1f} points above "
                f"compound {interval}.")
    ties = [m for m, r in at.items() if r["vs_compound_low"] <= 0]
    if not ties:
        return (f"{network}: agrees with the paper: compound beats {_listed(at)} beyond noise "
                f"(by {best['vs_compound'] * 100:.1f} points or more).")
    return (f"{network}: agrees in direction, within noise: compound's mean is the highest, "
            f"but it ties {_listed(ties)} (the {level} includes zero).")


def budget_words(config: dict) -> str:
    scale = config.get("budget_scale", 1)
    proxy = config.get("proxy_epochs", config.get("epochs"))
    if scale == 1:
        return f"the proxy budget, {config.get('epochs')} epoch(s) (budget scale 1)"
    return f"{scale:g}× the proxy budget ({proxy} × {scale:g} → {config.get('epochs')} epochs)"


def flops_note(rows: list[dict]) -> str:
    """Where the paper's settings land our rows at unequal FLOPs, say so: a method with
    more FLOPs has a head start that is not the method's."""
    at = [r for r in rows if r["target"] == "table3" and r["method"] in (*SINGLE, "compound")]
    compound = next((r for r in at if r["method"] == "compound"), None)
    single = [r for r in at if r["method"] in SINGLE]
    if compound is None or not single:
        return ""
    low, high = min(r["flops_ratio"] for r in single), max(r["flops_ratio"] for r in single)
    if compound["flops_ratio"] <= high * 1.05:
        return ""
    paper = [r.get("paper_flops_ratio") for r in single if r.get("paper_flops_ratio")]
    theirs = (f" (the paper's: {compound['paper_flops_ratio']:.2f}× against {min(paper):.2f}–{max(paper):.2f}×)"
              if paper and compound.get("paper_flops_ratio") else "")
    return (f"At the paper's settings our compound row costs {compound['flops_ratio']:.2f}× the baseline's FLOPs "
            f"against {low:.2f}–{high:.2f}× for the single-dimension rows{theirs}: not equal FLOPs, in "
            "compound's favour; a `--target` run compares the methods at equal FLOPs.")


def source_line() -> str:
    return (f"Paper: {paper_table3().source}. Its FLOPs are printed to 0.1 B, so its ratios are good to "
            "a few percent only; its accuracies are ImageNet top-1 after full training.")


# -- cells ---------------------------------------------------------------------------------

def _number(value: float | None, spec: str) -> str:
    return "—" if value is None else spec.format(value)


def _interval(row: dict, key: str, star: bool = False) -> str:
    mean, low, high = row.get(key), row.get(f"{key}_low"), row.get(f"{key}_high")
    if mean is None:
        return ""
    if low is None or not math.isfinite(low):
        return f"{mean * 100:+.1f}"
    mark = "*" if star and (low > 0 or high < 0) else ""
    return f"{mean * 100:+.1f} ({low * 100:+.1f}, {high * 100:+.1f}){mark}"


def _paper_gap(row: dict, compound_top1: float | None) -> str:
    if row["method"] in ("baseline", "compound") or row.get("paper_top1") is None or compound_top1 is None:
        return ""
    return f"{compound_top1 - row['paper_top1']:+.1f}"


def _accuracy(row: dict) -> str:
    mean, std = row.get("test_accuracy"), row.get("test_std")
    if mean is None:
        return "not run"
    return f"{mean:.2%}" + (f" ± {std:.2%}" if std is not None else "")


def _listed(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

