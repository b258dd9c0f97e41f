"""Do the statements keep their word?  Simulated grids of known truth through the CLI's own statistics.

Every statement scalesearch prints with a confidence -- "decided", the contender set,
compare's "beats" / "loses to", transfer's "holds" / "does not hold", the surface fit's
"recommended" -- is run here on grids whose truth is known:
acc(p, s) = mean_p + u_s + sd_p * z, u_s a seed effect shared by every point (the common
random numbers of a real run), in accuracy units with sd 1.5 points unless a case says.
Each goes through the very function the command uses: racing through
`benchmarks/search_cost.race` (racing_needs + rank a unit at a time, as one worker; its
test checks it trains the units the worker does), `--seeds 3` through `rank`, compare
through `compare._against_compound`, transfer through `transfer.answer` + `verdict`, the
fit through `surface.fit_surface`.

Printed: each error rate beside its nominal rate, with its Monte Carlo standard error,
and whether it is within nominal + 2 SE; then power and trainings where they apply.
Nominal rates are what the method guarantees at `--confidence` (0.9 here): MCB keeps a
truly best point with probability >= 0.9, so any tied-best point is cut, and any decision
among tied points made, at most 10 % of the time; Dunnett's intervals all hold at once
with probability >= 0.9, so a false "beats"/"loses to" anywhere in a compare target, or a
false "holds"/"does not hold", at most 10 % (5 % expected for one direction, by symmetry).
Racing's rows are held to the same nominal 10 %, though what racing proves is weaker: its
final set is `rank` over all the data at 0.9, and its tests before each seed may stop
seeding a tied point with probability at most INTERIM_SHARE x 10 % more (`racing_needs`),
a bound whose two parts overlap; the table shows whether the total stays within 10 %.

    python benchmarks/calibration.py --runs 1000
    python benchmarks/calibration.py --runs 200 --only racing-null
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

# Before numpy loads: its BLAS threads on these small matrices cost 10-75x on a shared
# 2-core machine (a 4000 x 30 by 30 x 12 product: 12 ms threaded, 0.16 ms on one).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import numpy as np  # noqa: E402


from scalesearch.compare import _against_compound  # noqa: E402
from scalesearch.machine import describe  # noqa: E402
from scalesearch.stats.ranking import racing_needs, rank  # noqa: E402
from scalesearch.stats.stragglers import retrains  # noqa: E402
from scalesearch.stats.surface import fit_surface  # noqa: E402
from scalesearch.search.worker import baseline_seeds  # noqa: E402
from scalesearch.transfer import TransferRequest, answer, verdict  # noqa: E402

CONFIDENCE = 0.9
SD = 0.015  # one training's noise: 1.5 points
SEED_SD = 0.01  # the shared seed effect
POINTS = 12  # the default 2-D grid
MAX_SEEDS = 3
RESERVE = 2  # seeds a simulated table holds beyond MAX_SEEDS: a straggler's retrain trains the next
FIXED = MAX_SEEDS * (POINTS + 1)  # --seeds 3's trainings, the baseline included


FAIL_SHARE = 0.05  # failed units: this share of units drops by FAIL_DROP (what real proxies did)
FAIL_DROP = (0.10, 0.20)


def table(rng, means, sds, seeds=MAX_SEEDS, fail: float = 0.0) -> dict[int, dict[int, float]]:
    """point -> seed -> accuracy for one simulated grid; with `fail`, that share of units
    drops by 10-20 points (a training that went wrong but not so wrong the health check sees it)."""
    shared = rng.normal(0, SEED_SD, seeds)
    noise = rng.standard_normal((len(means), seeds)) * np.asarray(sds)[:, None]
    values = np.asarray(means)[:, None] + shared[None, :] + noise
    if fail:
        dropped = rng.random(values.shape) < fail
        values = values - dropped * rng.uniform(*FAIL_DROP, values.shape)
    return {p: {s: float(values[p, s]) for s in range(seeds)} for p in range(len(means))}


class Rate:
    """A count of events over runs, shown with its Monte Carlo standard error."""

    def __init__(self) -> None:
        self.hits, self.runs = 0, 0

    def add(self, hit: bool) -> None:
        self.hits, self.runs = self.hits + bool(hit), self.runs + 1

    @property
    def value(self) -> float:
        return self.hits / self.runs if self.runs else math.nan

    @property
    def se(self) -> float:
        p = self.value
        return math.sqrt(max(p * (1 - p), 1 / self.runs) / self.runs) if self.runs else math.nan


ROWS: list[tuple] = []


def error_row(case: str, what: str, rate: Rate, nominal: float) -> None:
    ok = rate.value <= nominal + 2 * rate.se
    ROWS.append((case, what, f"{rate.value:6.1%}", f"<= {nominal:.0%}", f"{rate.se:.1%}", "yes" if ok else "NO"))


def info_row(case: str, what: str, text: str) -> None:
    ROWS.append((case, what, text, "", "", ""))


# -- racing and --seeds 3 ------------------------------------------------------------------

def race(table_: dict, confidence: float, max_seeds: int, delta: float | None = None):
    """`search_cost.race` (racing a unit at a time as one worker; tests/test_search.py checks
    it against the worker) without its nominal `rank` after every unit, half the time of a
    race: racing_needs reads only that ranking's confidence (its docstring), so one ranking
    of the first seeds gives the very same units.  tests/test_ranking.py checks the two agree."""
    obs = {p: {0: seeds[0]} for p, seeds in table_.items()}
    first = rank(obs, confidence, resamples=0)
    while wanted := racing_needs(obs, first, max_seeds, delta=delta):
        point, seed = wanted[0]
        obs[point][seed] = table_[point][seed]
    baseline = baseline_seeds(max(len(seeds) for seeds in obs.values()), racing=True)
    return sum(len(seeds) for seeds in obs.values()) + baseline, rank(obs, confidence, delta=delta)


def racing_case(name: str, means, sds, tied: list[int], runs: int, rng, fail: float = 0.0) -> None:
    """Race `runs` grids: false decisions (a decision among `tied` best points, or for a
    point not truly best), a tied-best point cut, power and trainings; p_best's check."""
    best = set(tied)
    wrong, cut, power, trainings, confident = Rate(), Rate(), Rate(), [], Rate()
    for _ in range(runs):
        count, ranking = race(table(rng, means, sds, MAX_SEEDS + RESERVE, fail=fail), CONFIDENCE, MAX_SEEDS)
        trainings.append(count)
        decided = ranking.decided
        wrong.add(decided and (len(best) > 1 or ranking.leader not in best))
        cut.add(tied[-1] not in ranking.contenders)
        power.add(decided and len(best) == 1 and ranking.leader in best)
        top = ranking.points[0]
        if top.p_best >= 0.95:
            confident.add(top.point in best and len(best) == 1)
    error_row(name, "false decision", wrong, 1 - CONFIDENCE)
    error_row(name, f"tied-best point {tied[-1]} cut", cut, 1 - CONFIDENCE)
    if len(best) == 1:
        info_row(name, "power: decided, right winner", f"{power.value:6.1%} ± {power.se:.1%}")
    if confident.runs:
        info_row(name, "p_best >= 0.95: truly (solely) best", f"{confident.value:6.1%} of {confident.runs} (model prob.)")
    mean = float(np.mean(trainings))
    fixed = MAX_SEEDS * (len(means) + 1)
    info_row(name, "trainings (baseline incl.)", f"{mean:.1f} = {mean / fixed:.2f} of --seeds 3's {fixed}")


def delta_case(name: str, means, delta: float, runs: int, rng) -> None:
    """Racing with --delta: "within delta of the best" is wrong when the leader's true mean
    is more than delta below the best's; power: said, rightly."""
    best = max(means)
    wrong, said, trainings = Rate(), Rate(), []
    for _ in range(runs):
        count, ranking = race(table(rng, means, [SD] * len(means), MAX_SEEDS + RESERVE), CONFIDENCE, MAX_SEEDS,
                              delta)
        trainings.append(count)
        within = ranking.within(delta)
        wrong.add(within and best - means[ranking.leader] > delta + 1e-12)
        said.add(within)
    error_row(name, "false 'within delta of the best'", wrong, 1 - CONFIDENCE)
    info_row(name, "'within delta' said", f"{said.value:6.1%} ± {said.se:.1%}")
    mean = float(np.mean(trainings))
    fixed = MAX_SEEDS * (len(means) + 1)
    info_row(name, "trainings (baseline incl.)", f"{mean:.1f} = {mean / fixed:.2f} of --seeds 3's {fixed}")


def fixed_case(name: str, means, sds, tied: list[int], runs: int, rng, fail: float = 0.0) -> None:
    """--seeds 3: every point 3 seeds, a straggler's point one more (as the worker:
    stats/stragglers.retrains), ranked once."""
    best = set(tied)
    wrong, cut, some, power, trainings = Rate(), Rate(), Rate(), Rate(), []
    for _ in range(runs):
        ranking, count = fixed(table(rng, means, sds, MAX_SEEDS + RESERVE, fail=fail), MAX_SEEDS)
        trainings.append(count)
        power.add(ranking.decided and len(best) == 1 and ranking.leader in best)
        wrong.add(ranking.decided and (len(best) > 1 or ranking.leader not in best))
        cut.add(tied[-1] not in ranking.contenders)
        some.add(any(t not in ranking.contenders for t in tied))
    error_row(name, "false decision", wrong, 1 - CONFIDENCE)
    error_row(name, f"tied-best point {tied[-1]} cut", cut, 1 - CONFIDENCE)
    if len(best) > 1:
        info_row(name, "some tied-best point cut", f"{some.value:6.1%} ± {some.se:.1%} (no per-family guarantee)")
    else:
        info_row(name, "power: decided, right winner", f"{power.value:6.1%} ± {power.se:.1%}")
    mean = float(np.mean(trainings))
    info_row(name, "trainings (baseline excl.)", f"{mean:.1f} = {mean / (MAX_SEEDS * len(means)):.3f} of "
             f"{MAX_SEEDS} seeds a point")


def fixed(table_: dict, seeds: int):
    """A fixed design of `seeds` seeds a point from `table_`, with the worker's retrains."""
    obs = {p: {s: v[s] for s in range(seeds)} for p, v in table_.items()}
    while extra := [u for u in retrains(obs, seeds) if u[1] not in obs[u[0]]]:
        for point, seed in extra:
            obs[point][seed] = table_[point][seed]
    return rank(obs, CONFIDENCE, resamples=0), sum(len(v) for v in obs.values())


# -- compare ----------------------------------------------------------------------------------

def compare_case(runs: int, rng, sds=(SD,) * 4, name: str = "compare, 4 methods equal, 3 seeds") -> None:
    """4 methods at one target, all equal, 3 seeds: any false beats / loses to."""
    methods = ["compound", "width", "depth", "resolution"]
    false = Rate()
    for _ in range(runs):
        obs = table(rng, [0.8] * 4, list(sds))
        rows = [{"method": m, "test_by_seed": obs[i]} for i, m in enumerate(methods)]
        _against_compound(rows, CONFIDENCE)
        false.add(any(r["verdict"] and " ties " not in r["verdict"] for r in rows if r["method"] != "compound"))
    error_row(name, "a false beats / loses to", false, 1 - CONFIDENCE)


# -- transfer ---------------------------------------------------------------------------------

def transfer_case(name: str, phi_means, runs: int, rng, seeds: int) -> None:
    """A grid of 12 points 1 sd apart with 3 seeds (phi = 1); its top 5 at phi with
    `phi_means` (index 0 is whatever the grid's winner W is), `seeds` seeds each."""
    grid_means = 0.8 - SD * np.arange(POINTS)
    holds, fails, below = Rate(), Rate(), Rate()
    for _ in range(runs):
        obs_1 = table(rng, grid_means, [SD] * POINTS)
        ranking_1 = rank(obs_1, CONFIDENCE, resamples=0)
        chosen = [p.point for p in ranking_1.points[:5]]
        phi = phi_means(grid_means, chosen)
        values = table(rng, [phi[p] for p in chosen], [SD] * 5, seeds)
        obs_phi = {p: values[i] for i, p in enumerate(chosen)}
        ranking_phi = rank(obs_phi, CONFIDENCE, resamples=0)
        agreement, against = answer(obs_1, ranking_1, obs_phi, ranking_phi, chosen, CONFIDENCE)
        outcome, _ = verdict(ranking_1.leader, ranking_phi, 2.0, seeds, against)
        holds.add(outcome == "holds")
        fails.add(outcome == "does not hold")
        if agreement.known:
            below.add(agreement.tau < agreement.low)
    return holds, fails, below


def transfer_cases(runs: int, rng, seeds: int | None = None) -> None:
    seeds = seeds or TransferRequest.__dataclass_fields__["seeds"].default
    case = f"transfer, top 5 at φ, {seeds} seeds"
    holds, fails, _ = transfer_case(case, lambda g, c: {p: 0.8 for p in c}, runs, rng, seeds)
    error_row(case + ": all equal at φ", "false 'does not hold'", fails, (1 - CONFIDENCE) / 2)
    error_row(case + ": all equal at φ", "false 'holds'", holds, (1 - CONFIDENCE) / 2)
    holds, fails, below = transfer_case(case, lambda g, c: {p: g[p] for p in c}, runs, rng, seeds)
    error_row(case + ": perfect transfer, 1 sd apart", "false 'does not hold'", fails, (1 - CONFIDENCE) / 2)
    error_row(case + ": perfect transfer, 1 sd apart", "τ̂ below perfect transfer's range", below,
              (1 - CONFIDENCE) / 2)
    info_row(case + ": perfect transfer, 1 sd apart", "power: 'holds'", f"{holds.value:6.1%} ± {holds.se:.1%}")
    for gap in (2, 3):
        best = lambda g, c, gap=gap: {p: 0.8 + (gap * SD if p == c[0] else 0.0) for p in c}  # noqa: E731
        holds, fails, _ = transfer_case(case, best, runs, rng, seeds)
        sub = case + f": W best by {gap} sd at φ"
        error_row(sub, "false 'does not hold'", fails, (1 - CONFIDENCE) / 2)
        info_row(sub, "power: 'holds'", f"{holds.value:6.1%} ± {holds.se:.1%}")
        worse = lambda g, c, gap=gap: {p: 0.8 + (gap * SD if p == c[1] else 0.0) for p in c}  # noqa: E731
        holds, fails, _ = transfer_case(case, worse, runs, rng, seeds)
        sub = case + f": another beats W by {gap} sd"
        error_row(sub, "false 'holds'", holds, (1 - CONFIDENCE) / 2)
        info_row(sub, "power: 'does not hold'", f"{fails.value:6.1%} ± {fails.se:.1%}")


# -- the surface fit --------------------------------------------------------------------------

def surface_cases(runs: int, rng) -> None:
    """The default 2-D grid's 12 points, 3 seeds each (noise of a mean: sd / sqrt 3, df 22)."""
    grid = [(b, g) for b in (1.0, 1.1, 1.2, 1.3, 1.4) for g in (1.0, 1.1, 1.2, 1.3, 1.4) if 2 / (b * b * g * g) >= 1]

    def peak(b, g):  # a true maximum at beta 1.1, gamma 1.2; the grid's lowest point 9.1 points below
        return 0.8 - (math.log(b / 1.1) ** 2 + math.log(g / 1.2) ** 2)

    for name, truth in (("surface, flat (pure noise)", lambda b, g: 0.8), ("surface, exact quadratic", peak)):
        recommended = Rate()
        for k in range(runs):
            noise = rng.normal(0, SD / math.sqrt(3), len(grid))
            sd = SD * math.sqrt(rng.chisquare(22) / 22)
            fit = fit_surface([(b, g, truth(b, g) + noise[i], 3) for i, (b, g) in enumerate(grid)], 2.0, 2.0,
                              sd, noise_df=22, confidence=CONFIDENCE, seed=k)
            recommended.add(fit.recommended)
        if "flat" in name:
            error_row(name, "'recommended'", recommended, 1 - CONFIDENCE)
        else:
            info_row(name, "power: 'recommended'", f"{recommended.value:6.1%} ± {recommended.se:.1%}")


def cases(runs: int, rng) -> dict:
    equal = [0.8] * POINTS
    steady = [SD] * POINTS

    def lead(gap):
        return [0.8 + gap * SD] + [0.8] * (POINTS - 1)

    two = [0.8, 0.8] + [0.8 - 2 * SD] * (POINTS - 2)
    three = [0.8] * 3 + [0.8 - 2 * SD] * (POINTS - 3)
    # 4 steady points (sd 1 point) and 8 wide (3.5 points); a steady and a wide one tied best.
    hetero_sd = [0.01] * 4 + [0.035] * 8
    hetero = [0.8] + [0.8 - 0.03] * 3 + [0.8] + [0.8 - 0.03] * 7
    # calibration-2's cases: one point at 3x the others' noise tied for best (6 and 12 points);
    # two tied best with unequal noise; compare with one noisy method; 5 % failed units.
    def wide(points):  # all tied; the last, the wide one, is the point whose cut is counted
        return [0.8] * points, [SD] * (points - 1) + [3 * SD], list(range(points))

    unequal_sd = [SD, 3 * SD] + [SD] * (POINTS - 2)
    noisy_method = (SD, 3 * SD, SD, SD)  # width's trainings scatter
    return {
        "seeds3-wide6": lambda: fixed_case("--seeds 3, 6 equal, one at 3x noise", *wide(6), runs, rng),
        "seeds3-wide12": lambda: fixed_case("--seeds 3, 12 equal, one at 3x noise", *wide(12), runs, rng),
        "racing-wide6": lambda: racing_case("racing, 6 equal, one at 3x noise", *wide(6), runs, rng),
        "seeds3-unequal": lambda: fixed_case("--seeds 3, two tied best, noise 1x and 3x (others -2 sd)", two,
                                             unequal_sd, [0, 1], runs, rng),
        "compare-noisy": lambda: compare_case(runs, rng, noisy_method,
                                              "compare, 4 methods equal, one at 3x noise, 3 seeds"),
        "seeds3-3sd": lambda: fixed_case("--seeds 3, best +3 sd", lead(3), steady, [0], runs, rng),
        "seeds3-3sd-failed": lambda: fixed_case("--seeds 3, best +3 sd, 5% of units fail", lead(3), steady, [0],
                                                runs, rng, fail=FAIL_SHARE),
        "racing-3sd-failed": lambda: racing_case("racing, best +3 sd, 5% of units fail", lead(3), steady, [0],
                                                 runs, rng, fail=FAIL_SHARE),
        "racing-delta-2sd": lambda: delta_case("racing --delta 1 sd, best +2 sd", lead(2), SD, runs, rng),
        "racing-delta-null": lambda: delta_case("racing --delta 1 sd, 12 equal", equal, SD, runs, rng),
        "racing-null": lambda: racing_case("racing, 12 equal", equal, steady, list(range(POINTS)), runs, rng),
        "racing-two": lambda: racing_case("racing, two tied best (others -2 sd)", two, steady, [0, 1], runs, rng),
        "racing-three": lambda: racing_case("racing, three tied best", three, steady, [0, 1, 2], runs, rng),
        "racing-hetero": lambda: racing_case("racing, heteroscedastic, wide point tied", hetero, hetero_sd,
                                             [0, 4], runs, rng),
        "racing-2sd": lambda: racing_case("racing, best +2 sd", lead(2), steady, [0], runs, rng),
        "racing-3sd": lambda: racing_case("racing, best +3 sd", lead(3), steady, [0], runs, rng),
        "seeds3-null": lambda: fixed_case("--seeds 3, 12 equal", equal, steady, list(range(POINTS)), runs, rng),
        "seeds3-hetero": lambda: fixed_case("--seeds 3, heteroscedastic, wide point tied", hetero, hetero_sd,
                                            [0, 4], runs, rng),
        "compare": lambda: compare_case(runs, rng),
        "transfer": lambda: transfer_cases(runs, rng),
        "surface": lambda: surface_cases(runs, rng),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="simulated grids per case")
    parser.add_argument("--only", default=None, help="comma-separated case names (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    chosen = cases(args.runs, rng)
    names = args.only.split(",") if args.only else list(chosen)
    start = time.perf_counter()
    for name in names:
        began = time.perf_counter()
        chosen[name]()
        print(f"  {name}: {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    print(f"{args.runs} runs per case at --confidence {CONFIDENCE}; noise sd {SD:.1%} unless stated; "
          f"{time.perf_counter() - start:.0f} s on {describe()}")
    print("| case | statement | rate | nominal | MC SE | within nominal + 2 SE |")
    print("|---|---|---|---|---|---|")
    for row in ROWS:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
