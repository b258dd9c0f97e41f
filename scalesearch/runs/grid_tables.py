"""A grid run's results: trials.csv (one row per unit), points.csv (one per point) and best.json.

Rows are read from the Optuna storage (the record of truth, shared by all workers) and
saved into the run directory before anything is printed; `scalesearch report DIR`
rebuilds the report from these files alone.  best.json is what `expand --from` and
`compare --from` read: the leader, whether it is decided, its contenders, every point's
seeds, and the smooth fit's answer.  `transfer --from` reads a finished grid back whole
(`read_finished_grid`): its budget and band from run.json, every unit from trials.csv.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import optuna
import pandas as pd
from optuna.trial import TrialState

from scalesearch.errors import UserError
from scalesearch.files import read_json, write_atomic, write_json
from scalesearch.search.candidates import Candidate
from scalesearch.stats.ranking import Difference, Ranking, TwoWay, rank, resolvable_gap, versus_control
from scalesearch.search.study import SearchConfig
from scalesearch.stats.stragglers import SET_ASIDE
from scalesearch.stats.surface import fit_surface
from scalesearch.stats.tie_break import recommend, sentence as tie_sentence
from scalesearch.search.worker import UnitStatus, unit_status, wanted_units
from scalesearch.spec.scaling import Coefficients, label
from scalesearch.training import health

UNIT_COLUMNS = ["trial", "point", "seed", "role", "alpha", "beta", "gamma", "state", "val_accuracy",
                "test_accuracy", "epochs", "proxy_resolution", "seconds", "images_per_second", "note"]
POINT_COLUMNS = ["index", "role", "alpha", "beta", "gamma", "target", "nominal_ratio", "cost", "raw_ratio", "measured_ratio",
                 "flops_ratio", "params_ratio", "activations_ratio", "latency_ratio", "latency_ms", "latency_spread",
                 "tie_latency_ratio", "tie_latency_low", "tie_latency_high", "tie_latency_ms", "tie_latency_spread",
                 "depth", "width", "resolution", "dropout", "correction", "feasible", "state", "seeds", "mean", "std",
                 "low", "high", "diff", "diff_low", "diff_high", "separated", "contender", "p_best_model",
                 "test_accuracy", "note"]
STATES = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned", TrialState.RUNNING: "running",
          TrialState.FAIL: "failed", TrialState.WAITING: "waiting"}


@dataclass
class GridTables:
    units: list[dict[str, Any]]
    points: list[dict[str, Any]]
    summary: dict[str, Any]


def collect(study: optuna.Study, candidates: list[Candidate], config: SearchConfig,
            study_name: str, storage: str) -> GridTables:
    """Every unit, every point with its statistics, and the summary, from the study."""
    status = unit_status(study)
    by_index = {c.index: c for c in candidates}
    units = [_unit_row(t, by_index) for t in study.get_trials(deepcopy=False)
             if (t.user_attrs.get("point") is not None or t.user_attrs.get("rejected"))
             and not t.user_attrs.get("duplicate")]
    accuracies = status.accuracies(candidates)
    ranking = rank(accuracies, config.confidence, delta=config.delta)
    aside = {(p, s) for p, seeds in ranking.details.get("stragglers", {}).items() for s in seeds}
    for row in units:
        if (row["point"], row["seed"]) in aside:
            row["state"] = SET_ASIDE
            row["note"] = "far below its point's other seeds: set aside, the point trained once more"
    points = [_point_row(c, status, ranking) for c in candidates]
    summary = summarize(points, ranking, status, candidates, config, study_name, storage)
    return GridTables(units, points, summary)


def _unit_row(trial: optuna.trial.FrozenTrial, by_index: dict[int, Candidate]) -> dict[str, Any]:
    attrs = trial.user_attrs
    point = attrs.get("point")
    c = by_index.get(point) if point is not None else None
    state = "rejected" if attrs.get("rejected") else STATES.get(trial.state, trial.state.name.lower())
    if health.failed(attrs):
        state = health.FAILED
    row = {"trial": trial.number, "point": point, "seed": attrs.get("seed"), "role": c.role if c else "proposal",
           "alpha": attrs.get("alpha", c.alpha if c else None), "beta": attrs.get("beta", c.beta if c else None),
           "gamma": attrs.get("gamma", c.gamma if c else None), "state": state,
           "val_accuracy": attrs.get("val_accuracy"), "test_accuracy": attrs.get("test_accuracy"),
           "epochs": attrs.get("epochs"), "proxy_resolution": attrs.get("proxy_resolution"),
           "seconds": attrs.get("seconds"), "images_per_second": attrs.get("images_per_second"),
           "note": attrs.get("note") or attrs.get("failed_reason") or ""}
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        last = max(trial.intermediate_values)
        row["val_accuracy"], row["epochs"] = trial.intermediate_values[last], last
    return {k: (math.nan if v is None and k.endswith("accuracy") else v) for k, v in row.items()}


def _point_row(c: Candidate, status: UnitStatus, ranking: Ranking) -> dict[str, Any]:
    row: dict[str, Any] = {k: v for k, v in c.as_dict().items() if k in POINT_COLUMNS}
    mine = {seed: trial for (point, seed), trial in status.done.items() if point == c.index}
    running = any(point == c.index for point, _ in status.running)
    complete = [t for t in mine.values() if t.state == TrialState.COMPLETE]
    if not c.feasible:
        state = "infeasible"
    elif complete:
        state = "complete" if not running else "training"
    elif mine:
        state = "pruned"
    elif running:
        state = "running"
    else:
        fails = sum(n for (point, _), n in status.failures.items() if point == c.index)
        state = f"failed x{fails}" if fails else "not run"
    row.update(state=state, seeds=len(complete), contender=False, separated=False)
    if any(health.failed(t.user_attrs) for t in complete):
        row["state"] = health.FAILED
    first = mine.get(0)
    row["test_accuracy"] = (first.user_attrs.get("test_accuracy") if first is not None else None)
    values = [t.user_attrs.get("val_accuracy") for t in complete if t.user_attrs.get("val_accuracy") is not None]
    if c.role == "baseline" and values:
        row["mean"] = sum(values) / len(values)
        row["std"] = (math.sqrt(sum((v - row["mean"]) ** 2 for v in values) / (len(values) - 1))
                      if len(values) > 1 else None)
    elif any(p.point == c.index for p in ranking.points):
        stats = ranking.get(c.index)
        row.update(mean=stats.mean, std=stats.std, low=stats.low, high=stats.high, diff=stats.diff,
                   diff_low=stats.diff_low, diff_high=stats.diff_high, separated=stats.separated,
                   contender=c.index in ranking.contenders, p_best_model=stats.p_best)
    return {k: row.get(k) for k in POINT_COLUMNS}


def _failed_to_train(status: UnitStatus, candidates: list[Candidate]) -> dict[str, Any]:
    """How many finished trainings failed the health check, of how many, on which points, why."""
    by_index = {c.index: c for c in candidates}
    failed = sorted(status.failed_units)
    finished = sum(1 for t in status.done.values() if t.state == TrialState.COMPLETE)
    return {"units": len(failed), "of": finished,
            "points": [label(by_index[p].as_dict()) if by_index[p].role == "candidate" else "the baseline"
                       for p in sorted({p for p, _ in failed})],
            "reasons": sorted({(status.done[u].user_attrs.get("note") or "").split(":")[0] for u in failed} - {""})}


def _stragglers(ranking: Ranking, candidates: list[Candidate]) -> dict[str, Any]:
    """The units set aside as far below their point's other seeds (stats/stragglers.py), and
    their points by label."""
    by_index = {c.index: c for c in candidates}
    aside = ranking.details.get("stragglers", {})
    return {"units": sum(len(s) for s in aside.values()),
            "points": [label(by_index[p].as_dict()) for p in sorted(aside)]}


def straggler_sentence(stragglers: dict[str, Any] | None) -> str:
    """The outcome's note when trainings were set aside ("" when none was)."""
    if not stragglers or not stragglers.get("units"):
        return ""
    n = stragglers["units"]
    return (f" {n} training{'s' if n > 1 else ''} far below {'their' if n > 1 else 'its'} point's other "
            f"seeds {'were' if n > 1 else 'was'} set aside and {'their points' if n > 1 else 'its point'} "
            f"trained once more ({', '.join(stragglers['points'][:4])}).")


def failure_sentence(failed: dict[str, Any] | None, baseline: str) -> str:
    """The outcome's warning when trainings failed to train ("" when none did)."""
    if not failed or not failed.get("units"):
        return ""
    points = failed["points"]
    shown = ", ".join(points[:4]) + (f" and {len(points) - 4} more" if len(points) > 4 else "")
    return (f" {failed['units']} of {failed['of']} trainings failed to train ({'; '.join(failed['reasons'])}: "
            f"{shown}): this proxy cannot rank these points, and they are left out; run "
            f"`scalesearch calibrate --baseline {baseline}` for a recipe under which they train.")


def outcome(summary: dict[str, Any]) -> str:
    """The result in one sentence: a decision with its margin, or a tie with its width; and
    the trainings that failed to train, if any."""
    baseline = summary.get("baseline_ref") or summary.get("baseline", "X")
    return (_decision(summary) + failure_sentence(summary.get("failed_to_train"), baseline)
            + straggler_sentence(summary.get("stragglers")))


def _decision(summary: dict[str, Any]) -> str:
    if "alpha" not in summary:
        return ("No point can be ranked." if (summary.get("failed_to_train") or {}).get("units")
                else "No candidate has finished yet.")
    leader = label(summary)
    contenders = summary.get("contenders") or []
    runner = summary.get("runner_up")
    noise = summary.get("noise", {}).get("kind", "none")
    if summary.get("decided") and runner:
        half = (runner["diff_high"] - runner["diff_low"]) / 2
        return (f"{leader} is best, ahead of the next point {label(runner)} by "
                f"{-runner['diff'] * 100:.1f} ± {half * 100:.1f} points ({summary['confidence']:.0%} simultaneous "
                "interval: multiple comparisons with the best).")
    if noise == "none":
        return (f"No decision: {leader} leads on one seed per point, and there is no noise estimate yet "
                "to tell it apart from the others (train more seeds).")
    means = [c["mean"] for c in contenders]
    within = summary.get("within") or {}
    if within.get("decided"):
        return (f"{leader} is within {within['delta'] * 100:.1f} points of the best (--delta): the best is at most "
                f"{within['bound'] * 100:.1f} points ahead of it at {summary['confidence']:.0%} (multiple "
                f"comparisons with the best); {len(contenders)} points tie within "
                f"{(max(means) - min(means)) * 100:.1f} points." + tie_sentence(summary.get("recommended"), len(contenders)))
    return (f"No decision: {len(contenders)} points tie within {(max(means) - min(means)) * 100:.1f} points "
            f"at {summary['confidence']:.0%} confidence; {leader} leads."
            + tie_sentence(summary.get("recommended"), len(contenders)) + resolution_sentence(summary))


def resolution_sentence(summary: dict[str, Any]) -> str:
    """What the design can tell apart (stats/ranking.resolvable_gap), as the tie's last words."""
    r, noise = summary.get("resolves"), summary.get("noise") or {}
    if not r:
        return ""
    return (f" With noise {noise['sd'] * 100:.2f} points on {noise['df']} df and {r['seeds']} seed(s) a point, "
            f"this design tells gaps of {r['gap'] * 100:.1f} points or more from the leader at "
            f"{summary['confidence']:.0%}; {r['for_gap'] * 100:.0f} point would need about {r['seeds_for_gap']} "
            "seeds a point.")


def summarize(points: list[dict[str, Any]], ranking: Ranking, status: UnitStatus, candidates: list[Candidate],
              config: SearchConfig, study_name: str, storage: str) -> dict[str, Any]:
    baseline = next(p for p in points if p["role"] == "baseline")
    feasible = [p for p in points if p["feasible"] and p["role"] == "candidate"]
    finished = [p for p in feasible if p["state"] in ("complete", "pruned", health.FAILED)]
    pending = wanted_units(candidates, status, config)
    summary: dict[str, Any] = {
        "baseline": config.baseline, "study": study_name, "storage": storage,
        "complete": not pending and not status.running,
        "candidates": len(points) - 1, "feasible": len(feasible), "finished": len(finished),
        "trainings": sum(1 for t in status.done.values() if t.state == TrialState.COMPLETE),
        "rejected_proposals": len(status.rejected),
        "baseline_val_accuracy": baseline["mean"], "baseline_seeds": baseline["seeds"],
        "baseline_test_accuracy": baseline["test_accuracy"],
        "mode": "racing" if config.racing else f"{config.seeds or 1} seed(s) per point",
        "confidence": config.confidence, "target": config.grid.target, "tolerance": config.grid.tolerance,
        "noise": {"sd": ranking.noise.sd, "df": ranking.noise.df, "kind": ranking.noise.kind},
        "decided": ranking.decided,
        "within": ({"delta": config.delta, "bound": ranking.best_gap_bound, "decided": ranking.within(config.delta)}
                   if config.delta is not None else None),
        "failed_to_train": _failed_to_train(status, candidates),
        "stragglers": _stragglers(ranking, candidates),
        "seeds": {label(p): p["seeds"] for p in feasible if p["seeds"]},
        "selected_on": "validation split carved from the training data (test only reported, first seed)",
        "flops_shape": "deployment (the space's native resolution, 3 channels, 1000 classes)",
        "train_shape": f"proxy ({config.data}, base {config.base_resolution} px x gamma)",
    }
    if ranking.leader is None:
        return summary
    leader = next(p for p in points if p["index"] == ranking.leader)
    summary.update({
        "alpha": leader["alpha"], "beta": leader["beta"], "gamma": leader["gamma"],
        "val_accuracy": leader["mean"], "val_low": leader["low"], "val_high": leader["high"],
        "test_accuracy": leader["test_accuracy"], "p_best_model": leader["p_best_model"],
        "cost": leader["cost"], "cost_ratio": leader["measured_ratio"], "flops_ratio": leader["flops_ratio"],
        "params_ratio": leader["params_ratio"], "activations_ratio": leader["activations_ratio"],
        "latency_ratio": leader["latency_ratio"], "nominal_ratio": leader["nominal_ratio"],
        "raw_ratio": leader["raw_ratio"],
        "phi1_network": {"depth": leader["depth"], "width": leader["width"], "resolution": leader["resolution"]},
        "correction": leader["correction"] or "none",
        "contenders": [_brief(p) for p in points if p["contender"]],
    })
    contender_seeds = sorted(p["seeds"] for p in points if p["contender"] and p["seeds"])
    summary["resolves"] = resolvable_gap(ranking, contender_seeds[len(contender_seeds) // 2]) if contender_seeds else None
    others = sorted((p for p in points if p["role"] == "candidate" and p["diff"] is not None
                     and not (isinstance(p["diff"], float) and math.isnan(p["diff"]))),
                    key=lambda p: -p["diff"])
    if others:
        summary["runner_up"] = _brief(others[0])
    summary["target"] = leader["target"]
    summary["over_baseline"] = _over_baseline(status, candidates, ranking.leader, config.confidence,
                                              ranking.details.get("stragglers"))
    summary["fit"] = _fit(points, ranking, config) if not config.grid.targets else None
    if config.objective == "pareto":
        summary["objective"] = "pareto"
        summary["front"] = pareto_front(points)
    summary["outcome"] = outcome(summary)
    return summary


def pareto_front(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The trained points no other beats on both mean accuracy and cost, cheapest first."""
    trained = [p for p in points if p["role"] == "candidate" and p["mean"] is not None
               and not (isinstance(p["mean"], float) and math.isnan(p["mean"]))]
    front = [p for p in trained
             if not any(q is not p and q["mean"] >= p["mean"] and q["measured_ratio"] <= p["measured_ratio"]
                        and (q["mean"] > p["mean"] or q["measured_ratio"] < p["measured_ratio"]) for q in trained)]
    return [{**_brief(p), "target": p["target"], "cost": p["cost"], "cost_ratio": p["measured_ratio"],
             "flops_ratio": p["flops_ratio"], "latency_ratio": p["latency_ratio"]}
            for p in sorted(front, key=lambda p: p["measured_ratio"])]


def _brief(p: dict[str, Any]) -> dict[str, Any]:
    return {k: p[k] for k in ("index", "alpha", "beta", "gamma", "mean", "seeds", "p_best_model", "diff",
                              "diff_low", "diff_high")}


def _over_baseline(status: UnitStatus, candidates: list[Candidate], leader: int, confidence: float,
                   aside: dict[int, list[int]] | None = None) -> dict | None:
    """The leader minus the baseline on their seeds, with its interval (None without both)."""
    values: dict[int, dict[int, float]] = {}
    failed = status.failed_points  # points that failed to train are in no comparison, the baseline neither
    for (point, seed), trial in status.done.items():
        value = trial.user_attrs.get("val_accuracy")
        if (trial.state == TrialState.COMPLETE and point not in failed and value is not None
                and math.isfinite(value)):
            values.setdefault(point, {})[seed] = value
    for point, seeds in (aside or {}).items():  # the ranking's stragglers are in no comparison either
        for seed in seeds:
            values.get(point, {}).pop(seed, None)
    if 0 not in values or leader not in values:
        return None
    # The leader was picked after looking: its gap to the baseline is read from Dunnett's
    # intervals of every point against the baseline, which hold at once, the leader's too.
    against = versus_control(TwoWay(values), 0, confidence)[leader]  # baseline - leader
    d = Difference(None if against.mean is None else -against.mean, -against.high, -against.low, against.noise,
                   against.simultaneous)
    return {"mean": d.mean, "low": d.low, "high": d.high, "verdict": d.verdict}


def _fit(points: list[dict[str, Any]], ranking: Ranking, config: SearchConfig) -> dict | None:
    if config.grid.shape != "2d":
        return None
    rows = [(p["beta"], p["gamma"], p["mean"], p["seeds"]) for p in points
            if p["role"] == "candidate" and p["seeds"] and p["mean"] is not None]
    bound = config.grid.low if config.grid.down else config.grid.high  # beta, gamma run from 1 to it
    fit = fit_surface(rows, config.grid.target, bound, ranking.noise.sd,
                      noise_df=ranking.noise.df or math.inf, confidence=config.confidence)
    return fit.as_dict() if fit else None


def add_recommendation(tables: GridTables, tie_break: str, cost_ratio: Callable[[dict[str, Any]], float],
                       time_side_by_side: Callable[[list[dict[str, Any]]], Any] | None = None) -> None:
    """Name the contender a finished grid recommends (its tie-break) in the summary and its outcome."""
    summary = tables.summary
    if not summary.get("complete"):
        return
    summary["recommended"] = recommend(summary, tables.points, tie_break, cost_ratio, time_side_by_side)
    for point in tables.points:  # every contender's side-by-side latency in points.csv, where timed
        timed = (summary["recommended"] or {}).get("latencies", {}).get(label(point))
        if timed and point.get("contender"):
            point.update(tie_latency_ratio=timed["ratio"], tie_latency_low=timed["low"],
                         tie_latency_high=timed["high"], tie_latency_ms=timed["ms"], tie_latency_spread=timed["spread"])
    summary["outcome"] = outcome(summary)


def name_baseline(tables: GridTables, reference: str) -> None:
    """The baseline as the user named it (a YAML path, a factory), for the outcome's hints."""
    if reference and reference != tables.summary.get("baseline"):
        tables.summary["baseline_ref"] = reference
        tables.summary["outcome"] = outcome(tables.summary)


def save_grid_tables(run_dir: Path, tables: GridTables) -> None:
    """trials.csv, points.csv and best.json, each written atomically."""
    write_atomic(run_dir / "trials.csv", pd.DataFrame(tables.units, columns=UNIT_COLUMNS).to_csv(index=False))
    write_atomic(run_dir / "points.csv", pd.DataFrame(tables.points, columns=POINT_COLUMNS).to_csv(index=False))
    write_json(run_dir / "best.json", tables.summary)


@dataclass(frozen=True)
class GridChoice:
    """What a grid run hands on: its coefficients, the cost multiple they were searched
    for (the family's growth per phi) and the baseline they belong to."""

    coefficients: Coefficients
    target: float
    baseline: str
    pick: str = "best"
    tolerance: float | None = None  # the grid's band, which its phi = 1 networks were landed in
    cost: str = "flops"  # the cost they were landed on


PICKS = ("best", "fit", "recommended", "front:K")


def read_grid_choice(run_dir: Path, pick: str = "best") -> GridChoice:
    """The choice in a grid run directory's best.json (`expand/compare --from`).

    `pick` "best" is the leader; "fit" the smooth fit's argmax, refused where the run's
    report does not recommend it; "recommended" the contender its tie-break chose
    (stats/tie_break.py).
    """
    front = re.fullmatch(r"front:(\d+)", str(pick))
    if pick not in PICKS[:3] and not front:
        raise UserError(f"{{pick}} must be one of {', '.join(PICKS)}, got {pick!r}")
    path = Path(run_dir) / "best.json"
    if not path.is_file():
        raise UserError(f"{{from}} {run_dir}: no best.json there (point {{from}} at the output "
                        "directory of `scalesearch grid`)")
    best = read_json(path)
    source = best
    if front:
        points = best.get("front") if isinstance(best, dict) else None
        if not points:
            raise UserError(f"{path}: no Pareto front (made by `grid --objective pareto`); use {{pick}} best")
        k = int(front.group(1))
        if k >= len(points):
            raise UserError(f"{{pick}} {pick}: the front has {len(points)} points (front:0 .. front:{len(points) - 1})")
        source = points[k]
    if pick == "recommended":
        source = best.get("recommended") if isinstance(best, dict) else None
        if not source:
            raise UserError(f"{path}: no recommended point (the grid has not finished, or ran with "
                            "{tie_break} none); use {pick} best")
    if pick == "fit":
        source = best.get("fit") if isinstance(best, dict) else None
        if not source:
            raise UserError(f"{path}: no fit to pick (fits need a finished 2-D grid); use {{pick}} best")
        if not source.get("recommended"):
            raise UserError(f"{path}: the fit is not recommended: {source.get('reason')}; use {{pick}} best")
    try:
        coefficients = Coefficients(float(source["alpha"]), float(source["beta"]), float(source["gamma"]))
        target = float(source.get("target") or best.get("target") or coefficients.product)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise UserError(f"{path}: no numeric alpha, beta and gamma (has the grid finished a candidate?)") from None
    tolerance = best.get("tolerance")
    return GridChoice(coefficients, target, str(best.get("baseline", "")), pick,
                      float(tolerance) if isinstance(tolerance, (int, float)) else None,
                      str(best.get("cost") or "flops"))


def check_grid_baseline(choice: GridChoice, space, run_dir: Path, force: bool) -> None:
    """Coefficients searched for one baseline say little about another: refuse unless forced."""
    if choice.baseline and choice.baseline != space.name and not force:
        raise UserError(f"{{from}} {run_dir} is a grid of {choice.baseline!r}, not {space.name!r}; "
                        "its coefficients were searched for that network (add {force_coefficients} "
                        "to use them anyway)")


@dataclass(frozen=True)
class FinishedGrid:
    """A finished grid run read back (`transfer --from`): how it trained and what it measured."""

    run_dir: Path
    info: dict[str, Any]  # run.json: its request and identity (budget, data, grid band)
    summary: dict[str, Any]  # best.json
    observations: dict[str, dict[int, float]]  # point label -> seed -> validation accuracy
    coefficients: dict[str, Coefficients]  # point label -> its alpha, beta, gamma

    @property
    def identity(self) -> dict[str, Any]:
        return self.info.get("identity") or {}

    @property
    def request(self) -> dict[str, Any]:
        return self.info.get("request") or {}


def read_finished_grid(run_dir: Path) -> FinishedGrid:
    """run.json, best.json and every complete candidate unit of trials.csv; refuses a
    directory that is not a grid run, or a grid that has not finished."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"{{from}} {run_dir}: no such directory; give the output directory of a finished "
                        "`scalesearch grid`")
    path = run_dir / "run.json"
    info = read_json(path) if path.is_file() else None
    if not isinstance(info, dict) or info.get("kind") != "grid":
        what = f"a {info.get('kind')} run" if isinstance(info, dict) and info.get("kind") else "no scalesearch run"
        raise UserError(f"{{from}} {run_dir} holds {what}, not a grid; give the output directory of "
                        "`scalesearch grid`")
    if not info.get("finished"):
        raise UserError(f"{{from}} {run_dir}: the grid has not finished (rerun its command to finish it: "
                        f"{info.get('command') or 'scalesearch grid ...'})")
    for name in ("best.json", "trials.csv"):
        if not (run_dir / name).is_file():
            raise UserError(f"{{from}} {run_dir}: no {name} there; the grid's results are incomplete "
                            "(rerun its command)")
    trials = pd.read_csv(run_dir / "trials.csv")
    missing = {"point", "seed", "role", "alpha", "beta", "gamma", "state", "val_accuracy"} - set(trials.columns)
    if missing:
        raise UserError(f"{run_dir / 'trials.csv'}: no column(s) {', '.join(sorted(missing))}; "
                        "was it written by `scalesearch grid`?")
    observations: dict[str, dict[int, float]] = {}
    coefficients: dict[str, Coefficients] = {}
    records = trials.to_dict("records")
    failed = {label(row) for row in records if row["state"] in (health.FAILED, "diverged")}  # ranked nowhere
    for row in records:
        value, seed = row["val_accuracy"], row["seed"]
        if (row["role"] != "candidate" or row["state"] != "complete" or label(row) in failed or pd.isna(value)
                or not math.isfinite(value) or pd.isna(seed)):
            continue
        name = label(row)
        coefficients[name] = Coefficients(float(row["alpha"]), float(row["beta"]), float(row["gamma"]))
        observations.setdefault(name, {})[int(seed)] = float(value)
    if not observations:
        raise UserError(f"{{from}} {run_dir}: the grid finished no candidate training; nothing to transfer")
    return FinishedGrid(run_dir, info, read_json(run_dir / "best.json"), observations, coefficients)
