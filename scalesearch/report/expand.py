"""The expand report, built from the run directory alone (runs/family_files.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from scalesearch.report import plots
from scalesearch.report.document import Report
from scalesearch.report.costs import cost_correlations
from scalesearch.files import read_json



# -- the report, from saved files only -------------------------------------------------
def expand_report(run_dir: Path, info: dict[str, Any]) -> Report:
    family = read_json(Path(run_dir) / info.get("results", "family.json"))
    members = family["members"]
    report = Report(f"Compound-scaled family of {family['baseline']}")
    report.paragraph(growth_line(family))
    report.paragraph(_summary(family))
    report.heading("Members")
    report.table(_members_table(family), "FLOPs are multiply-adds (conv + linear, fvcore) at the "
                 "deployment shape: 3-channel input at each member's resolution, 1000 classes, batch 1. "
                 "t: the exponent each member was landed at, (d, w, r) = (α, β, γ)^t. Measured = FLOPs / "
                 "baseline FLOPs; nominal = (α·β²·γ²)^φ (d·w²·r² for a table); target = growth^φ; "
                 "off = measured / target − 1.")
    if family.get("exact_flops"):
        report.heading("Exact-FLOP adjustment")
        report.paragraph(f"`--exact-flops`: each member's resolution (then width, where a resolution step "
                         f"was too coarse) was moved until measured FLOPs landed within "
                         f"±{family['exact_tolerance']:.0%} of baseline × nominal.")
        report.table(_adjustment_table(members, family["exact_tolerance"]))
    correlation = cost_correlations(members)
    if correlation:
        timing = family.get("latency") or {}
        report.paragraph(f"Latency: median ± interquartile spread of a forward pass at the deployment shape, "
                         f"{timing.get('threads', 1)} thread(s), batch {timing.get('batch', 1)}, on "
                         f"{timing.get('device', 'cpu')} ({timing.get('machine', 'this machine')}). {correlation}")
    report.heading("Cost per φ")
    report.figure("flops-per-phi", _cost_plot(family, "flops", "GFLOPs (multiply-adds)", 1e9),
                  "FLOPs per φ: nominal (baseline × d·w²·r²) vs measured, log scale.")
    report.figure("params-per-phi", _cost_plot(family, "params", "parameters (millions)", 1e6),
                  "Parameters per φ: nominal (baseline × d·w², resolution adds none) vs measured, log scale.")
    if any(m.get("val_accuracy") is not None for m in members):
        report.heading("Accuracy vs FLOPs")
        report.paragraph(_training_text(family.get("training") or {}))
        report.figure("accuracy-vs-flops", _accuracy_plot(members),
                      "Proxy validation accuracy (proxy shape: the data's channels and classes at the "
                      "proxy resolution × r) against FLOPs at the deployment shape.")
    report.heading("Files")
    report.paragraph("`family.json` and `family.csv` hold every number above; each member's NetSpec is in "
                     "`member-phi{φ}.yaml` — profile or train one with `--baseline DIR/member-phi1.yaml`. "
                     "Rebuild this report with `scalesearch report DIR`.")
    if info.get("command"):
        created = str(info.get("created", "?")).replace("T", " ").replace("+00:00", " UTC")
        report.paragraph(f"Made by `{info['command']}` on {created}.")
    return report


def growth_line(family: dict[str, Any]) -> str:
    """The family's first line: how much each step of φ costs, as planned and as measured."""
    members = [m for m in family["members"] if m["phi"] != 0]
    last = max(members, key=lambda m: m["phi"]) if members else None
    measured = "" if last is None else (
        f" Measured: φ = {last['phi']} costs {last['flops_ratio']:.1f}× the baseline "
        f"(target {last['target_ratio']:.1f}×, {last['ratio_error']:+.1%}), "
        f"{last['flops_ratio'] ** (1 / last['phi']):.3f}× per step." if last["phi"] else "")
    if family.get("growth"):
        return (f"This family grows {family['growth']:.3g}× in cost per step of φ: each member is landed "
                f"on {family['growth']:.3g}^φ × the baseline's FLOPs (±{family['land_tolerance']:.0%}) by "
                f"moving along (α, β, γ)^t, t near φ.{measured}")
    if family.get("product"):
        return (f"This family grows about {family['product']:.3f}× per step of φ (α·β²·γ², as published; "
                f"members are not moved off (α, β, γ)^φ).{measured}")
    return f"This family is a published table: its cost per member is the table's, not one growth law.{measured}"


def _summary(family: dict[str, Any]) -> str:
    c = family.get("coefficients")
    source = family["coefficient_source"]
    if c:
        text = (f"Coefficients from {source}: α = {c['alpha']:g} (depth), β = {c['beta']:g} (width), "
                f"γ = {c['gamma']:g} (resolution); α·β²·γ² = {family['product']:.3f}.")
    else:
        text = (f"Multipliers from {source}: a published, hand-picked table, not one α, β, γ — "
                f"φ here is the B number (φ = 1 is B1), and the target = d·w²·r² of that row.")
    base = family["members"][0]
    return (f"{text} Baseline: {family['baseline']} at {family['shape']['base_resolution']} px, "
            f"{_giga(family['base_flops'])} GFLOPs. {len(family['members'])} members, "
            f"φ = {', '.join(str(m['phi']) for m in family['members'])}."
            if base else text)


def _training_text(training: dict[str, Any]) -> str:
    budget = training.get("budget") or {}
    if not budget:
        return "Proxy-trained (no budget recorded)."
    return (f"Proxy training on {training.get('data')} ({training.get('in_channels')} channel(s), "
            f"{training.get('num_classes')} classes) at {training.get('proxy_base_resolution')} px × each "
            f"member's r: {budget.get('epochs')} epochs of {budget.get('train_images'):,} images, batch "
            f"{budget.get('batch_size')}, peak lr {budget.get('lr')}, seed {budget.get('seed')}, on "
            f"{training.get('device')}. Accuracies belong to the proxy shape; FLOPs to the deployment shape.")


def _giga(value: float) -> str:
    return f"{value / 1e9:.3g}"


def _members_table(family: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for m in family["members"]:
        row = {"φ": m["phi"], "name": m["name"], "t": "—" if m.get("t") is None else f"{m['t']:g}",
               "d": f"{m['depth']:.3f}", "w": f"{m['width']:.3f}",
               "resolution (px)": m["resolution"], "blocks": m.get("blocks") or "—",
               "dropout": "—" if m.get("dropout") is None else f"{m['dropout']:.2f}",
               "params": f"{m['params']:,}", "GFLOPs": _giga(m["flops"]),
               "measured ×": f"{m['flops_ratio']:.3f}", "nominal ×": f"{m['nominal_ratio']:.3f}",
               "target ×": f"{m.get('target_ratio', m['nominal_ratio']):.3f}",
               "off": f"{m['ratio_error']:+.1%}"}
        if m.get("latency_ms") is not None:
            row["latency (ms)"] = f"{m['latency_ms']:.1f} ±{m.get('latency_spread', 0):.0%}"
        if m.get("val_accuracy") is not None:
            row["proxy px"] = m.get("proxy_resolution", "—")
            row["val acc"] = f"{m['val_accuracy']:.1%}"
            row["test acc"] = "—" if m.get("test_accuracy") is None else f"{m['test_accuracy']:.1%}"
        rows.append(row)
    return pd.DataFrame(rows)


def _adjustment_table(members: list[dict[str, Any]], tolerance: float) -> pd.DataFrame:
    def moved(before: Any, after: Any, fmt: str) -> str:
        return format(after, fmt) if before == after else f"{before:{fmt}} → {after:{fmt}}"

    rows = [{"φ": m["phi"], "resolution (px)": moved(m["nominal_resolution"], m["resolution"], "d"),
             "width": moved(m["nominal_width"], m["width"], ".3f"),
             "target ×": f"{m.get('target_ratio', m['nominal_ratio']):.3f}", "measured ×": f"{m['flops_ratio']:.3f}",
             "off": f"{m['ratio_error']:+.1%}"} for m in members]
    for row, m in zip(rows, members):
        if abs(m["ratio_error"]) > tolerance:  # only shown when a target was out of reach
            row["note"] = "closest reachable"
    return pd.DataFrame(rows)


def _cost_plot(family: dict[str, Any], key: str, label: str, unit: float) -> bytes:
    members = family["members"]
    base = _base_member(members, key)
    phis = [m["phi"] for m in members]
    nominal_ratio = "nominal_ratio" if key == "flops" else None
    nominal = [base * (m[nominal_ratio] if nominal_ratio else m["depth"] * m["nominal_width"] ** 2)
               for m in members]
    return plots.lines(phis, {"nominal": [v / unit for v in nominal],
                              "measured": [m[key] / unit for m in members]},
                       title=f"{label} per φ — {family['baseline']}", xlabel="φ", ylabel=label,
                       log_y=True, styles={"nominal": "s--", "measured": "o-"})


def _base_member(members: list[dict[str, Any]], key: str) -> float:
    """The baseline's value: the phi=0 member, else backed out of the first member's ratio."""
    for m in members:
        if m["phi"] == 0:
            return m[key]
    first = members[0]
    if key == "flops":
        return first["flops"] / first["flops_ratio"]
    return first["params"] / (first["depth"] * first["nominal_width"] ** 2)


def _accuracy_plot(members: list[dict[str, Any]]) -> bytes:
    trained = [m for m in members if m.get("val_accuracy") is not None]
    return plots.scatter_labelled([m["flops"] / 1e9 for m in trained], [100 * m["val_accuracy"] for m in trained],
                                  [f"φ={m['phi']}" for m in trained], title="Proxy accuracy vs FLOPs",
                                  xlabel="GFLOPs (multiply-adds, deployment shape)",
                                  ylabel="validation accuracy (%)")
