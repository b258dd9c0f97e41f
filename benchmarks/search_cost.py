"""What a decision costs: racing against --seeds 3, and model-based samplers against a fine grid.

`--racing-vs-seeds` (default): every point of the space trained with 3 seeds (`grid
--seeds 3`, or a recorded such run given with `--from DIR`), then racing replayed on that
table: racing asks for units through its own decision functions (stats/ranking.py) and
gets the table's value for each, so both arms see the very same trainings — exact, because
a unit's result depends only on its point, seed and layout on one machine.  Racing is
replayed a unit at a time, as one worker races (tests/test_search.py checks it trains
the very units the worker does); parallel workers may train up to one unit more each.
Compared on trainings spent and on the decision (the same winner, or the same contender
set).  Prints the trainings ratio, and the least ratio any racing could
reach for `--seeds 3`'s contender set: a contender needs all its 3 seeds, so with C
contenders of N points the ratio is at least (3C + N - C + 3) / (3N + 3).

`--sampler-vs-grid`: a fine 2-D grid (step 0.05) trained once per point, then TPE and GP
replayed on its measured accuracies (a proposal costs one training of that point, and
gets the grid's own value for it, so both see the same noise), over 3 sampler seeds:
how many trainings each needs to reach a point within the seed noise of the full grid's
best, against the grid's count.  The seed noise is measured on the grid's top two points
with two more seeds each.

    python benchmarks/search_cost.py --baseline mobilenetv2
    python benchmarks/search_cost.py --from runs/mbv2-3seeds
    python benchmarks/search_cost.py --sampler-vs-grid --baseline mobilenetv2 --train-images 512 --epochs 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd

from scalesearch.grid import GridRequest, prepare, run_grid
from scalesearch.machine import describe
from scalesearch.requests import compose
from scalesearch.search.candidates import build_candidates
from scalesearch.stats.ranking import racing_needs, rank
from scalesearch.search.worker import baseline_seeds, data_for_seed, train_candidate


def _request(out: Path, args, **extra) -> GridRequest:
    return compose(GridRequest, dict(baseline=args.baseline, out=out, epochs=args.epochs,
                                     train_images=args.train_images, val_images=args.val_images,
                                     test_images=500, device="cpu", **extra))


def grid(out: Path, args, **extra) -> tuple[dict, pd.DataFrame, float]:
    start = time.perf_counter()
    result = run_grid(_request(out, args, **extra))
    return result.summary, pd.read_csv(out / "points.csv"), time.perf_counter() - start


def unit_table(run: Path) -> tuple[dict, int]:
    """point -> seed -> validation accuracy of a grid run's candidates, and its baseline's seeds."""
    trials = pd.read_csv(run / "trials.csv")
    done = trials[trials["state"] == "complete"]
    table: dict = {}
    for r in done[done["role"] == "candidate"].itertuples():
        table.setdefault((r.alpha, r.beta, r.gamma), {})[int(r.seed)] = float(r.val_accuracy)
    return table, int((done["role"] == "baseline").sum())


def race(table: dict, confidence: float, max_seeds: int):
    """Racing replayed on a table of trained units, a unit at a time as one worker takes
    them (search/worker.py): (trainings, the baseline included; the final ranking)."""
    obs = {p: {0: seeds[0]} for p, seeds in table.items()}
    while wanted := racing_needs(obs, rank(obs, confidence, resamples=0), max_seeds):
        point, seed = wanted[0]
        obs[point][seed] = table[point][seed]
    baseline = baseline_seeds(max(len(seeds) for seeds in obs.values()), racing=True)
    return sum(len(seeds) for seeds in obs.values()) + baseline, rank(obs, confidence)


def racing_vs_seeds(args, root: Path) -> None:
    run = Path(args.from_run) if args.from_run else root / "seeds3"
    seconds = 0.0 if args.from_run else grid(run, args, seeds=3)[2]
    table, baseline_trained = unit_table(run)
    if any(len(seeds) < 3 for seeds in table.values()) or baseline_trained < 3:
        raise SystemExit(f"{run}: not every point has 3 seeds; give a run of grid --seeds 3")
    summary = json.loads((run / "best.json").read_text())
    confidence = summary.get("confidence", 0.9)
    full = rank(table, confidence)
    trainings, raced = race(table, confidence, max_seeds=3)
    fixed = 3 * (len(table) + 1)
    same = ((full.decided and raced.decided and full.leader == raced.leader)
            or set(full.contenders) == set(raced.contenders))
    overlap = full.leader in raced.contenders and raced.leader in full.contenders
    c, n = len(full.contenders), len(table)
    floor = (3 * c + n - c + 3) / fixed
    print(f"{summary.get('baseline', args.baseline)}: {run}"
          + (f", trained in {seconds:.0f} s" if not args.from_run else "") + f"; {describe()}")
    for name, count, ranking in (("racing", trainings, raced), ("--seeds 3", fixed, full)):
        ties = ", ".join(_short(p) for p in ranking.contenders)
        print(f"{name:10s} {count:3d} trainings  noise sd {ranking.noise.sd:.2%} (df {ranking.noise.df})  "
              f"{'decided' if ranking.decided else 'undecided'}: leader {_short(ranking.leader)}; "
              f"contenders {ties}")
    print(f"same decision: {'yes' if same else 'no'}; each leader in the other's contenders: "
          f"{'yes' if overlap else 'no'}; trainings ratio racing / --seeds 3: {trainings / fixed:.2f} "
          f"(the least any racing could spend on --seeds 3's {c} contenders of {n}: {floor:.2f})")


def _short(point) -> str:
    return "(" + ", ".join(f"{v:.3g}" for v in point) + ")"


def replay(values: dict[tuple[float, float], float], sampler: str, seed: int, good: float, cap: int) -> int | None:
    """Trainings a sampler needs to propose a point scoring >= `good` (None: not within `cap`)."""
    sampler_obj = (optuna.samplers.TPESampler(seed=seed, n_startup_trials=3) if sampler == "tpe"
                   else optuna.samplers.GPSampler(seed=seed, n_startup_trials=3))
    study = optuna.create_study(direction="maximize", sampler=sampler_obj)
    trained: set[tuple[float, float]] = set()
    for _ in range(cap * 10):
        trial = study.ask()
        point = (round(trial.suggest_float("beta", 1.0, 2.0, step=0.05), 6),
                 round(trial.suggest_float("gamma", 1.0, 2.0, step=0.05), 6))
        if point not in values:  # off the feasible set: rejected, never trained
            trial.set_constraint("cost_band", 1.0)
            study.tell(trial, 0.0)
            continue
        trial.set_constraint("cost_band", -1.0)
        trained.add(point)
        study.tell(trial, values[point])
        if values[point] >= good:
            return len(trained)
        if len(trained) >= cap:
            return None
    return None


def sampler_vs_grid(args, root: Path) -> None:
    summary, points, seconds = grid(root / "fine", args, step=0.05, seeds=1)
    trained = points[(points["role"] == "candidate") & points["mean"].notna()]
    values = {(round(r.beta, 6), round(r.gamma, 6)): r.mean for r in trained.itertuples()}
    top = trained.sort_values("mean", ascending=False).head(2)
    # The seed noise: two more seeds of the top two points.
    setup = prepare(_request(root / "fine", args, step=0.05, seeds=1))
    candidates = {c.index: c for c in build_candidates(setup.space, setup.config.grid)}
    noise_runs = []
    for r in top.itertuples():
        scores = [r.mean]
        for k in (1, 2):
            data = data_for_seed(setup.config, None, k)
            scores.append(train_candidate(candidates[r.index], setup.space, setup.config, data,
                                          seed_index=k).val_accuracy)
        noise_runs.append(statistics.stdev(scores))
    noise = statistics.fmean(noise_runs)
    best = trained["mean"].max()
    good = best - noise
    print(f"{args.baseline} fine 2-D grid (step 0.05): {len(trained)} trainings in {seconds:.0f} s; best "
          f"{best:.2%}; seed noise {noise:.2%} (sd over 3 seeds of the top two); {describe()}")
    for sampler in ("tpe", "gp"):
        counts = [replay(values, sampler, seed, good, len(trained)) for seed in range(3)]
        shown = ", ".join("never" if c is None else str(c) for c in counts)
        mean = statistics.fmean(c if c is not None else len(trained) for c in counts)
        print(f"{sampler}: trainings to reach within noise of the best: {shown} "
              f"(mean {mean:.1f} = {mean / len(trained):.0%} of the grid's {len(trained)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="mobilenetv2")
    parser.add_argument("--train-images", type=int, default=None, help="default: the space's proxy budget")
    parser.add_argument("--val-images", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=None, help="default: the space's proxy budget")
    parser.add_argument("--from", dest="from_run", default=None,
                        help="racing-vs-seeds: a recorded run of grid --seeds 3 to replay racing on")
    parser.add_argument("--sampler-vs-grid", action="store_true")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        (sampler_vs_grid if args.sampler_vs_grid else racing_vs_seeds)(args, root)


if __name__ == "__main__":
    main()
