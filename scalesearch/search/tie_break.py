"""Which contender to use when the search cannot tell them apart: a stated tie-break.

A grid that ends with several contenders has said that any of them may be the best
(search/ranking.py: the contenders are a confidence set for the best).  A user still needs
one network, so the search names a *recommended* point, chosen among the contenders only
— never outside the set, so the recommendation keeps the set's guarantee — by a rule
stated up front:

- `latency` (default): the lowest batch-1 latency measured on this machine;
- `params`, `activations`, `flops`: the smallest cost of that kind (already measured for
  every point, so nothing is timed);
- `fit`: the contender nearest (in log beta, log gamma) to the smooth fit's maximum, where
  the grid's report recommends the fit; the leader otherwise;
- `none`: no recommendation.

A decided search recommends its winner.  Equal costs fall to the higher mean.  The leader
stays what `expand --from` picks by default; `--pick recommended` takes this one.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from scalesearch.errors import UserError
from scalesearch.spec.scaling import label

TIE_BREAKS = ("latency", "params", "activations", "flops", "fit", "none")
COST_WORDS = {"latency": ("the fastest here", "latency"), "params": ("the smallest", "parameters"),
              "activations": ("the one with the fewest activations", "activations"),
              "flops": ("the cheapest in FLOPs", "FLOPs")}


def check_tie_break(name: str) -> str:
    if name not in TIE_BREAKS:
        raise UserError(f"{{tie_break}} must be one of {', '.join(TIE_BREAKS)}, got {name!r}")
    return name


def recommend(summary: dict[str, Any], points: list[dict[str, Any]], tie_break: str,
              cost_ratio: Callable[[dict[str, Any]], float]) -> dict[str, Any] | None:
    """The recommended point of a finished grid, as best.json holds it (None: nothing to say).

    `points` are points.csv's rows (the contenders among them flagged); `cost_ratio(row)`
    is a contender's cost over the baseline's for a cost tie-break (called only for those).
    """
    check_tie_break(tie_break)
    contenders = [p for p in points if p.get("contender")]
    if tie_break == "none" or "alpha" not in summary or not contenders:
        return None
    leader = next((p for p in contenders if (p["alpha"], p["beta"], p["gamma"]) ==
                   (summary["alpha"], summary["beta"], summary["gamma"])), contenders[0])
    if summary.get("decided") or len(contenders) == 1:
        return _entry(leader, tie_break, "decided: the winner")
    if tie_break == "fit":
        fit = summary.get("fit") or {}
        if not fit.get("recommended"):
            return _entry(leader, tie_break, "the fit is not recommended: the leader")
        chosen = min(contenders, key=lambda p: (_log_distance(p, fit), -p["mean"]))
        return _entry(chosen, tie_break, "the contender nearest the smooth fit's maximum")
    ratios = {p["index"]: float(cost_ratio(p)) for p in contenders}
    chosen = min(contenders, key=lambda p: (ratios[p["index"]], -p["mean"]))
    return {**_entry(chosen, tie_break, f"{COST_WORDS[tie_break][0]} of the {len(contenders)} contenders"),
            "cost_ratio": ratios[chosen["index"]],
            "cost_ratios": {label(p): ratios[p["index"]] for p in contenders}}


def sentence(recommended: dict[str, Any] | None, contenders: int) -> str:
    """The outcome's last clause: which contender to use, and why ("" when there is none)."""
    if not recommended or contenders < 2:
        return ""
    name = label(recommended)
    if recommended["tie_break"] in COST_WORDS:
        adjective, noun = COST_WORDS[recommended["tie_break"]]
        return (f" Of them {name} is {adjective}, {recommended['cost_ratio']:.2f}x the baseline's {noun}: "
                f"recommended (tie-break {recommended['tie_break']}; `expand --pick recommended`).")
    return f" Recommended: {name} ({recommended['reason']}; `expand --pick recommended`)."


def _entry(point: dict[str, Any], tie_break: str, reason: str) -> dict[str, Any]:
    return {"index": point["index"], "alpha": point["alpha"], "beta": point["beta"], "gamma": point["gamma"],
            "target": point.get("target"), "mean": point["mean"], "tie_break": tie_break, "reason": reason}


def _log_distance(point: dict[str, Any], fit: dict[str, Any]) -> float:
    return math.hypot(math.log(point["beta"] / fit["beta"]), math.log(point["gamma"] / fit["gamma"]))
