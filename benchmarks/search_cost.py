"""What a decision costs: racing against --seeds 3, and model-based samplers against a fine grid.

`--racing-vs-seeds` (default): the same space, budget and base seed searched twice —
racing, then every point with 3 seeds — and compared on trainings spent and on the
decision (the same winner, or the same contender set).  Prints the trainings ratio.

`--sampler-vs-grid`: a fine 2-D grid (step 0.05) trained once per point, then TPE and GP
replayed on its measured accuracies (a proposal costs one training of that point, and
gets the grid's own value for it, so both see the same noise), over 3 sampler seeds:
how many trainings each needs to reach a point within the seed noise of the full grid's
best, against the grid's count.  The seed noise is measured on the grid's top two points
with two more seeds each.

    python benchmarks/search_cost.py --baseline mobilenetv2 --train-images 1024 --epochs 3
    python benchmarks/search_cost.py --sampler-vs-grid --baseline mobilenetv2 --train-images 512 --epochs 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import pandas as pd

from scalesearch.grid import GridRequest, prepare, run_grid
from scalesearch.machine import describe
from scalesearch.search.candidates import build_candidates
from scalesearch.search.worker import data_for_seed, train_candidate


def _request(out: Path, args, **extra) -> GridRequest:
    return GridRequest(baseline=args.baseline, out=out, epochs=args.epochs, train_images=args.train_images,
                       val_images=args.val_images, test_images=500, device="cpu", **extra)


def grid(out: Path, args, **extra) -> tuple[dict, pd.DataFrame, float]:
    start = time.perf_counter()
    result = run_grid(_request(out, args, **extra))
    return result.summary, pd.read_csv(out / "points.csv"), time.perf_counter() - start


def label(p: dict) -> str:
    return f"({p['alpha']:g}, {p['beta']:g}, {p['gamma']:g})"


def racing_vs_seeds(args, root: Path) -> None:
    racing, _, racing_s = grid(root / "racing", args)
    fixed, _, fixed_s = grid(root / "seeds3", args, seeds=3)
    race_set = {label(c) for c in racing["contenders"]}
    fixed_set = {label(c) for c in fixed["contenders"]}
    same = (racing["decided"] and fixed["decided"] and label(racing) == label(fixed)) or race_set == fixed_set
    overlap = label(racing) in fixed_set and label(fixed) in race_set
    ratio = racing["trainings"] / fixed["trainings"]
    print(f"{args.baseline}, {args.epochs} epochs x {args.train_images} images; {describe()}")
    for name, s, seconds in (("racing", racing, racing_s), ("--seeds 3", fixed, fixed_s)):
        print(f"{name:10s} {s['trainings']:3d} trainings {seconds:6.0f} s  {s['outcome']}")
    print(f"same decision: {'yes' if same else 'no'}; each winner in the other's contenders: "
          f"{'yes' if overlap else 'no'}; trainings ratio racing / --seeds 3: {ratio:.2f}")


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
    parser.add_argument("--train-images", type=int, default=1024)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sampler-vs-grid", action="store_true")
    parser.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.out or tmp)
        (sampler_vs_grid if args.sampler_vs_grid else racing_vs_seeds)(args, root)


if __name__ == "__main__":
    main()
