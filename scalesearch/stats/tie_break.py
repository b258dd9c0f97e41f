"""Which contender to use when the search cannot tell them apart: a stated tie-break.

A grid that ends with several contenders has said that any of them may be the best
(stats/ranking.py: the contenders are a confidence set for the best).  A user still needs
one network, so the search names a *recommended* point, chosen among the contenders only
— never outside the set, so the recommendation keeps the set's guarantee — by a rule
stated up front:

- `latency` (default): the lowest batch-1 latency on this machine -- but only when it is
  lower *beyond the timing's own spread*.  The baseline and every contender are timed side
  by side in interleaved rounds (costs/latency.side_by_side), and the fastest is chosen
  only if, against every other contender, the t interval on its mean log latency ratio
  over the rounds lies below 1 (simultaneous over the others by Bonferroni, at the grid's
  confidence).  Otherwise the contenders not slower beyond that spread are tied in latency
  too, and the fewest parameters among them decides (then FLOPs, then the higher mean),
  and the outcome says so: a 2 % gap in batch-1 timings on a loaded machine is noise, and
  a newcomer on another machine would grow a different family on it;
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
from typing import Any, Callable, Hashable, Mapping, Sequence

import numpy as np
from scipy import stats

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


Timings = Mapping[Hashable, Sequence[float]]  # network -> seconds per round, rounds interleaved


def recommend(summary: dict[str, Any], points: list[dict[str, Any]], tie_break: str,
              cost_ratio: Callable[[dict[str, Any]], float] | None,
              time_side_by_side: Callable[[list[dict[str, Any]]], Timings] | None = None) -> dict[str, Any] | None:
    """The recommended point of a finished grid, as best.json holds it (None: nothing to say).

    `points` are points.csv's rows (the contenders among them flagged); `cost_ratio(row)`
    is a contender's cost over the baseline's for a cost tie-break (called only for those);
    `time_side_by_side(contenders)` times the contenders and the baseline (key
    "baseline") in interleaved rounds for the latency tie-break (module docstring).
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
    if tie_break == "latency" and time_side_by_side is not None:
        return _by_latency(contenders, time_side_by_side(contenders), float(summary.get("confidence", 0.9)))
    ratios = {p["index"]: float(cost_ratio(p)) for p in contenders}
    chosen = min(contenders, key=lambda p: (ratios[p["index"]], -p["mean"]))
    return {**_entry(chosen, tie_break, f"{COST_WORDS[tie_break][0]} of the {len(contenders)} contenders"),
            "cost_ratio": ratios[chosen["index"]],
            "cost_ratios": {label(p): ratios[p["index"]] for p in contenders}}


def latency_ratios(times: Timings, reference: Hashable, confidence: float) -> dict[Hashable, tuple[float, float, float]]:
    """Every network's latency over `reference`'s: (ratio, low, high), the geometric mean
    of the per-round ratios and its two-sided t interval over the rounds."""
    out = {}
    for name, seconds in times.items():
        logs = np.log(np.asarray(seconds, float)) - np.log(np.asarray(times[reference], float))
        mean = float(logs.mean())
        half = (float(stats.t.ppf(0.5 + confidence / 2, len(logs) - 1) * logs.std(ddof=1) / math.sqrt(len(logs)))
                if len(logs) > 1 else math.inf)
        out[name] = (math.exp(mean), math.exp(mean - half), math.exp(mean + half))
    return out


def faster_beyond_noise(times: Timings, fastest: Hashable, confidence: float) -> list[Hashable]:
    """The networks `fastest` is *not* faster than beyond the timings' spread: for each other
    network, the one-sided upper bound of the mean log ratio fastest / other over the rounds,
    at `confidence` shared by Bonferroni over the others, is not below 0."""
    others = [n for n in times if n != fastest]
    if not others:
        return []
    level = 1 - (1 - confidence) / len(others)
    tied = []
    for other in others:
        logs = np.log(np.asarray(times[fastest], float)) - np.log(np.asarray(times[other], float))
        if len(logs) < 2:
            tied.append(other)
            continue
        upper = float(logs.mean() + stats.t.ppf(level, len(logs) - 1) * logs.std(ddof=1) / math.sqrt(len(logs)))
        if not upper < 0:
            tied.append(other)
    return tied


def _by_latency(contenders: list[dict[str, Any]], times: Timings, confidence: float) -> dict[str, Any]:
    """The latency tie-break on side-by-side timings (module docstring)."""
    ours = {p["index"]: times[p["index"]] for p in contenders}
    medians = {i: float(np.median(t)) for i, t in ours.items()}
    fastest = min(contenders, key=lambda p: (medians[p["index"]], -p["mean"]))
    tied_ids = faster_beyond_noise(ours, fastest["index"], confidence)
    ratios = latency_ratios(times, "baseline", confidence) if "baseline" in times else {}
    shown = {label(p): {"ratio": ratios[p["index"]][0], "low": ratios[p["index"]][1], "high": ratios[p["index"]][2],
                        "ms": medians[p["index"]] * 1e3, "spread": _spread(ours[p["index"]])}
             for p in contenders if p["index"] in ratios}
    if not tied_ids:
        chosen, reason = fastest, f"the fastest of the {len(contenders)} contenders, beyond the timings' spread"
        rule = "latency"
    else:
        tied = [fastest] + [p for p in contenders if p["index"] in tied_ids]
        chosen = min(tied, key=lambda p: (p.get("params_ratio", math.inf), p.get("flops_ratio", math.inf),
                                          -p["mean"]))
        names = ", ".join(label(p) for p in tied)
        reason = (f"latencies of {names} within the timings' spread: of them the fewest parameters"
                  if len(tied) < len(contenders) else
                  "every contender's latency within the timings' spread: the fewest parameters")
        rule = "params"
    entry = {**_entry(chosen, "latency", reason), "decided_by": rule, "latencies": shown}
    if chosen["index"] in ratios:
        entry.update(cost_ratio=ratios[chosen["index"]][0], cost_low=ratios[chosen["index"]][1],
                     cost_high=ratios[chosen["index"]][2])
    entry["cost_ratios"] = {name: value["ratio"] for name, value in shown.items()}
    if rule == "params":
        entry["params_ratio"] = chosen.get("params_ratio")
    return entry


def _spread(seconds: Sequence[float]) -> float:
    """Relative interquartile spread of one network's per-round times."""
    q1, q2, q3 = np.quantile(np.asarray(seconds, float), [0.25, 0.5, 0.75])
    return float((q3 - q1) / q2) if q2 else 0.0


def sentence(recommended: dict[str, Any] | None, contenders: int) -> str:
    """The outcome's last clause: which contender to use, and why ("" when there is none)."""
    if not recommended or contenders < 2:
        return ""
    name = label(recommended)
    if recommended.get("decided_by") == "latency" and "cost_low" in recommended:
        return (f" Of them {name} is the fastest here beyond the timings' spread, {recommended['cost_ratio']:.2f}x "
                f"the baseline's latency ({recommended['cost_low']:.2f}-{recommended['cost_high']:.2f}x, "
                f"timed side by side): recommended (tie-break latency; `expand --pick recommended`).")
    if recommended.get("decided_by") == "params":
        return (f" Of them {name} is recommended: {recommended['reason']}, {recommended['params_ratio']:.2f}x the "
                f"baseline's (tie-break latency, then params; `expand --pick recommended`).")
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
