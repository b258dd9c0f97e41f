"""Scaling down: the down-scaling grid's answer against the inverted up-scaling family, at 0.5x.

TinyNet (Han et al., NeurIPS 2020, arXiv 2010.14819) found that shrinking a network by
running EfficientNet's up-scaling coefficients backwards (the "inverted giant formula") is
beaten by a down-scaling rule that keeps resolution and depth and cuts width.  This trains,
with the proxy budget and common random numbers, the two phi = 1 networks at `--target`
x the baseline's FLOPs:

- `down`: the φ = 1 member of a finished `grid --target T` run's leader (`--grid DIR`);
- `inverted`: the paper's (1.2, 1.1, 1.15) family moved along (α, β, γ)^t to t < 0 until it
  costs T x the baseline (the one landing rule, costs/landing.py);

and the baseline at 1x for reference, `--seeds` seeds each — by default seeds the grid did
not use, since its leader was picked on its own seeds and would be favoured on them — then
prints down − inverted with its two-sided interval (one comparison fixed in advance: a
Student-t interval from the point + seed fit, stats/ranking.py `difference`).

    python benchmarks/down_vs_inverted.py --grid runs/b0-down --seeds 4 --out benchmarks/results/down-vs-inverted.json
"""

from __future__ import annotations

import argparse
import math
import platform
import subprocess
import sys
import time
from pathlib import Path

from scalesearch.costs.landing import land
from scalesearch.costs.meter import Meter
from scalesearch.costs.variant import Variant
from scalesearch.files import write_json
from scalesearch.runs.grid_tables import read_grid_choice
from scalesearch.stats.ranking import TwoWay, difference
from scalesearch.spec.scaling import PAPER_B0
from scalesearch.spec.spaces import load_space
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.unit import DataSource, train_unit


def cpu_name() -> str:
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def networks(grid: Path) -> tuple[dict[str, Variant], dict[str, str]]:
    choice = read_grid_choice(grid, "best")
    space = load_space(choice.baseline)
    base = Variant(space)
    target = choice.target
    band = {"tolerance": choice.tolerance} if choice.tolerance else {}
    down = land(base, choice.coefficients, 1.0, target, meter=Meter(choice.cost or "flops"), **band)
    guess = math.log(target) / math.log(PAPER_B0.product)
    inverted = land(base, PAPER_B0, guess, target)
    variants = {"baseline": base, "down": down.variant, "inverted": inverted.variant}
    labels = {"baseline": "1x", "down": f"{choice.coefficients.as_dict()} at φ = 1 ({down.summary})",
              "inverted": f"paper (1.2, 1.1, 1.15) at t = {inverted.t:g} ({inverted.summary})"}
    return variants, labels


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=Path, required=True, help="a finished `grid --target T` (T < 1) run")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--first-seed", type=int, default=10,
                        help="seed indices first..first+seeds-1; the default 10 avoids the grid's own seeds "
                             "(0-2), on which its leader was chosen: the same seeds would favour it")
    parser.add_argument("--confidence", type=float, default=0.9)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    variants, labels = networks(args.grid)
    space = variants["baseline"].space
    budget = ProxyBudget.for_space(space.proxy)
    source = DataSource(train_images=budget.train_images, val_images=budget.val_images)
    first = source.load(budget.seed + args.first_seed)
    print(f"# {space.name}: down-scaling grid vs inverted up-scaling; CPU: {cpu_name()}")
    observations: dict[str, dict[int, float]] = {}
    rows = []
    for name, variant in variants.items():
        cost = variant.fast_cost()
        print(f"{name:9s} d {variant.depth:.3f} w {variant.width:.3f} {variant.resolution} px, "
              f"{cost.flops / variants['baseline'].fast_cost().flops:.3f}x FLOPs: {labels[name]}")
    started = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        for name, variant in variants.items():
            proxy = variant.at_proxy(space.proxy_resolution, first.in_channels, first.num_classes)
            result = train_unit(proxy, budget, seed, source, threads=args.threads)
            observations.setdefault(name, {})[seed] = result.val_accuracy
            rows.append({"network": name, "seed": seed, "val_accuracy": result.val_accuracy,
                         "seconds": result.seconds})
            print(f"  seed {seed} {name:9s} val {result.val_accuracy:.4f} ({result.seconds:.0f} s)", flush=True)
    fit = TwoWay(observations)
    d = difference(fit, "down", "inverted", args.confidence)
    means = {name: sum(v.values()) / len(v) for name, v in observations.items()}
    print("mean val accuracy: " + ", ".join(f"{k} {v:.4f}" for k, v in means.items()))
    print(f"down - inverted: {d.mean * 100:+.2f} points, {args.confidence:.0%} interval "
          f"({d.low * 100:+.2f}, {d.high * 100:+.2f}): down {d.verdict} inverted "
          f"({time.perf_counter() - started:.0f} s of training)")
    if args.out:
        write_json(args.out, {"cpu": cpu_name(), "grid": str(args.grid), "first_seed": args.first_seed, "labels": labels, "units": rows,
                              "means": means, "difference": {"mean": d.mean, "low": d.low, "high": d.high,
                                                             "verdict": d.verdict,
                                                             "confidence": args.confidence},
                              "networks": {k: {"depth": v.depth, "width": v.width, "resolution": v.resolution,
                                               "flops_ratio": v.fast_cost().flops /
                                               variants["baseline"].fast_cost().flops}
                                           for k, v in variants.items()}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
