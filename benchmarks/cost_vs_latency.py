"""Do FLOPs predict latency here?  Many networks at the same FLOPs, timed side by side.

For each baseline, variants all at 2x its FLOPs (+-5%, measured) from every scaling
method — width, depth, resolution, compound (the paper's 1.2, 1.1, 1.15), and Dollár et
al.'s fast scaling at several a (fast:1/3 is uniform compound, fast:1 is width) — plus
the default 2-D grid's points, are timed at the deployment shape (1 thread, batch 1 by
default: the paper's convention).  Printed per baseline: every variant's FLOPs,
activations, params and latency (median ± interquartile spread), and Spearman's rank
correlation of FLOPs and of activations with latency over the variants.  If FLOPs
predicted latency, every variant would take the same time; the spread of latencies at
equal FLOPs is what `--cost latency` is for.

    python benchmarks/cost_vs_latency.py                       # mobilenetv2, efficientnet-b0
    python benchmarks/cost_vs_latency.py --baselines resnet50 --threads 2
"""

from __future__ import annotations

import argparse
import json

from scalesearch.compare import method_setting, solve, variant_at
from scalesearch.machine import describe
from scalesearch.costs.variant import Variant
from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.stats.ranking import spearman
from scalesearch.spec.scaling import PAPER_B0
from scalesearch.spec.spaces import load_space

METHODS = ("width", "depth", "resolution", "compound", "fast:0.333", "fast:0.5", "fast:0.8", "fast:1")


def variants(name: str) -> list[tuple[str, Variant]]:
    space = load_space(name)
    base = Variant(space).macs()
    out = []
    for method in METHODS:
        setting = method_setting(method, PAPER_B0)
        value, _ = solve(space, setting, 2.0, base)
        out.append((f"{method} ({setting.knob}={value:g})", variant_at(space, setting.multipliers(value))))
    for c in build_candidates(space, GridSpec())[1:]:
        if c.feasible:
            out.append((f"grid ({c.alpha:g}, {c.beta:g}, {c.gamma:g})", c.variant(space)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baselines", default="mobilenetv2,efficientnet-b0")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report = {"machine": describe(), "threads": args.threads, "batch": args.batch, "baselines": {}}
    for name in args.baselines.split(","):
        base = Variant(load_space(name))
        base_ms = base.latency(args.device, args.threads, args.batch).ms
        rows = []
        for label, v in [("baseline", base), *variants(name)]:
            cost, latency = v.fast_cost(), v.latency(args.device, args.threads, args.batch)
            rows.append({"variant": label, "flops": cost.flops, "flops_ratio": cost.flops / base.macs(),
                         "activations": cost.activations, "params": cost.params, "latency_ms": latency.ms,
                         "latency_spread": latency.spread, "latency_ratio": latency.ms / base_ms,
                         "memory_format": latency.memory_format})
        at2 = rows[1:]
        report["baselines"][name] = {
            "rows": rows,
            "spearman_flops": spearman([r["flops"] for r in at2], [r["latency_ms"] for r in at2]),
            "spearman_activations": spearman([r["activations"] for r in at2], [r["latency_ms"] for r in at2])}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['machine']}; latency: {args.threads} thread(s), batch {args.batch}, {args.device}")
    for name, r in report["baselines"].items():
        print(f"\n{name}: variants at 2x FLOPs")
        print(f"{'variant':34s} {'FLOPs x':>8s} {'acts (M)':>9s} {'params (M)':>10s} {'latency (ms)':>16s} {'lat x':>6s}")
        for row in r["rows"]:
            print(f"{row['variant']:34s} {row['flops_ratio']:8.2f} {row['activations'] / 1e6:9.1f} "
                  f"{row['params'] / 1e6:10.2f} {row['latency_ms']:9.2f} ±{row['latency_spread']:5.1%} "
                  f"{row['latency_ratio']:6.2f}")
        print(f"Spearman with latency over the {len(r['rows']) - 1} variants at 2x: FLOPs "
              f"{r['spearman_flops']:.2f}, activations {r['spearman_activations']:.2f}")


if __name__ == "__main__":
    main()
