"""Full grid vs pruned search on the same budget and seed, in one run.

Prints the compute each used (epochs trained, FLOP-weighted epochs and wall seconds),
the winner each picked, and the validation noise across seeds of the full grid's top
candidates, so "same winner" can be judged against noise.  `--prune` becomes the
default only if the pruned search keeps the winner at <= 50% of the compute.

    python benchmarks/search_cost.py --baseline resnet18 --train-images 1024 --epochs 4
"""

from __future__ import annotations

import argparse
import statistics
import time

import optuna

from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.training.data import load_data
from scalesearch.search.study import SearchConfig, open_study
from scalesearch.search.worker import run_worker, train_candidate
from scalesearch.spec.spaces import load_space
from scalesearch.training.budget import ProxyBudget


def run_search(space, config, data, candidates):
    storage = optuna.storages.InMemoryStorage()
    study, _ = open_study(storage, "bench", config, space, lambda: candidates)
    start = time.perf_counter()
    run_worker(study, candidates, space, config, data, device="cpu")
    seconds = time.perf_counter() - start
    ratio = {c.index: c.measured_ratio for c in candidates}
    epochs = flop_epochs = 0.0
    accuracy = {}
    for trial in study.get_trials(deepcopy=False):
        if trial.user_attrs.get("duplicate") or "point" not in trial.params:
            continue
        ran = len(trial.intermediate_values)
        epochs += ran
        flop_epochs += ran * ratio[trial.params["point"]]
        if trial.state == optuna.trial.TrialState.COMPLETE and trial.params["point"] != 0:
            accuracy[trial.params["point"]] = trial.value
    winner = max(accuracy, key=accuracy.get) if accuracy else None
    return {"seconds": seconds, "epochs": epochs, "flop_epochs": flop_epochs,
            "winner": winner, "accuracy": accuracy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="resnet18")
    parser.add_argument("--train-images", type=int, default=1024)
    parser.add_argument("--val-images", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--step", type=float, default=0.1)
    parser.add_argument("--prune", default="halving", choices=["halving", "hyperband"])
    parser.add_argument("--noise-seeds", type=int, default=2, help="extra seeds for the top two")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    space = load_space(args.baseline)
    budget = ProxyBudget(epochs=args.epochs, train_images=args.train_images, val_images=args.val_images)
    data = load_data("fashion-mnist", train_images=budget.train_images, val_images=budget.val_images,
                     test_images=500, seed=0)
    grid = GridSpec(step=args.step)
    candidates = build_candidates(space, grid)
    full_config = SearchConfig(space.name, grid, budget, test_images=500)
    pruned_config = SearchConfig(space.name, grid, budget, test_images=500, prune=args.prune,
                                 prune_warmup=max(1, args.epochs // 2))
    full = run_search(space, full_config, data, candidates)
    pruned = run_search(space, pruned_config, data, candidates)

    top = sorted(full["accuracy"], key=full["accuracy"].get, reverse=True)[:2]
    noise = {}
    for point in top:
        values = [full["accuracy"][point]]
        for seed in range(1, args.noise_seeds + 1):
            config = SearchConfig(space.name, grid, ProxyBudget(**{**budget.as_dict(), "seed": seed}),
                                  test_images=500)
            values.append(train_candidate(candidates[point], space, config, data).val_accuracy)
        noise[point] = (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)

    def describe(point):
        c = candidates[point]
        return f"#{point} (alpha={c.alpha:g}, beta={c.beta:g}, gamma={c.gamma:g})"

    print(f"baseline {space.name}, {len(full['accuracy'])} trained candidates, budget {budget.epochs} epochs "
          f"x {budget.train_images} images, pruner {args.prune} (warm-up {pruned_config.prune_warmup} epochs)")
    for name, result in (("full grid", full), ("pruned", pruned)):
        print(f"{name:10s} epochs {result['epochs']:5.0f}  FLOP-weighted epochs {result['flop_epochs']:6.1f}  "
              f"wall {result['seconds']:6.0f} s  winner {describe(result['winner'])} "
              f"val {result['accuracy'].get(result['winner'], float('nan')):.4f}")
    print(f"compute ratio pruned/full: {pruned['flop_epochs'] / full['flop_epochs']:.2f} (FLOP-weighted epochs), "
          f"{pruned['seconds'] / full['seconds']:.2f} (wall)")
    for point, (mean, std) in noise.items():
        print(f"seed noise {describe(point)}: val {mean:.4f} +/- {std:.4f} over {args.noise_seeds + 1} seeds")
    same = full["winner"] == pruned["winner"]
    if not same and len(top) == 2:
        gap = abs(noise[top[0]][0] - noise[top[1]][0])
        within = gap <= max(noise[top[0]][1], noise[top[1]][1])
        print(f"same winner: no; full grid's top two differ by {gap:.4f} "
              f"({'within' if within else 'outside'} seed noise)")
    else:
        print(f"same winner: {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
