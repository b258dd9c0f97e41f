"""A training far below its point's other seeds: set aside, and its point trained once more.

A proxy training can go wrong without failing the health check (training/health.py): a
loss spike it half recovered from leaves it 10-20 points below the point's other seeds.
Averaged in, one such unit drags its point down and, worse, inflates the pooled noise for
every point: with 5 % of units dropping 10-20 points, a +3 sd winner of a 12-point grid
was decided in 12 % of `--seeds 3` runs instead of 61 % (benchmarks/calibration.py).

The rule, one-sided (a failure only ever lowers an accuracy) and robust (the failures must
not set the scale they are judged by):

1. seed effects by medians: each unit minus its point's median, the median of that over
   the points sharing the seed (the common random numbers of training/loop.py shift every
   point on a seed alike);
2. a unit's *deviation*: its seed-adjusted accuracy minus the mean of its point's other
   seed-adjusted units, divided by sqrt(1 + 1/(n - 1)) (n the point's units), so that with
   equal noise every deviation has the noise's sd;
3. the scale: 1.4826 x the median absolute deviation (a MAD) over the units of the points
   with two or more, leaving out, until that settles, every point with a unit below
   -`SCREEN_K` scales (a straggler widens all of its point's deviations: the others' mean
   holds it; three such points of twelve took a plain MAD to 1.4x the noise and hid
   10-point drops); at least `MIN_UNITS` units, or nothing is set aside;
4. a unit is a *straggler* when its deviation is below -`K` x its own scale and below
   -`MIN_DROP`, its own scale being the pool's moderated by the spread of its point's
   other units (`PRIOR_DF` : their count - 1): a point whose trainings all scatter has low
   draws that are real, and trimming them would lift it.

K = 4.5 was chosen on simulated grids (benchmarks/calibration.py, 300 runs per case,
noise 1.5 points, 5 % of units dropping 10-20): with a plain MAD at K = 6 the rule caught
42 % of the dropped units (the +3 sd winner's power with failures, --seeds 3: 34 %); with
the scale above at K = 5, 4.5, 4 and 3.5, 78, 81, 84 and 87 %.  At 1,000 runs: the
winner's power with failures 48 % at 4.5 (12 % with no screen; 61 % if the failed units
were known and dropped; 63 % with no failures).  The price is paid by a decision between
two tied points with 1x and 3x noise (trimming lifts the wide one): 13.9 % against 11.1 %
with no screen (12.9 % at K = 6; at K = 4, 17 % in 300 runs) -- within the k x alpha a
decision among k tied points may reach (README), above the 10 % the benchmark holds it to.
What it misses are mostly points with two failed units of three, whose
others do not agree either.  The price: on clean grids of 12 points x 3 seeds one unit is
set aside in 5 % of grids (a retrain each), and a point with 3x the others' noise loses a
low draw in 16 % of 6-point grids (PRIOR_DF 2 or 1 instead of 4: 15 and 14 %, no better).

A straggler is left out of every ranking and the point is trained once more on a fresh
seed (`retrains`, racing's turns count kept units only); both are kept in trials.csv.  If
the retrain falls as far, the two low units agree with each other, neither is judged a
straggler any more, and both count: the point does fall, its spread is real, and its own
variance (stats/twoway.py) carries it.  Pure: observations in, the units to set aside out.
"""

from __future__ import annotations

import math
from typing import Hashable, Mapping

import numpy as np

K = 4.5  # deviations below -K robust sd are stragglers
SCREEN_K = 3.0  # ... and a point with one below -3 sets no scale
MIN_DROP = 0.02  # ... and below -2 accuracy points: a spread of near-identical values is no scale
MIN_UNITS = 6  # units (of points with 2+ seeds) the scale needs; fewer: nothing is set aside
PRIOR_DF = 4.0  # the pool's weight against a point's other units' spread (its df: their count - 1)

SET_ASIDE = "set aside"  # a straggler's state in trials.csv

Observations = Mapping[Hashable, Mapping[int, float]]


def stragglers(obs: Observations) -> dict[Hashable, list[int]]:
    """point -> the seeds of its stragglers (module docstring), only points that have one."""
    several = {p: dict(s) for p, s in obs.items() if len(s) >= 2}
    if sum(len(s) for s in several.values()) < MIN_UNITS:
        return {}
    centre = {p: float(np.median(list(s.values()))) for p, s in several.items()}
    by_seed: dict[int, list[float]] = {}
    for p, seeds in several.items():
        for s, y in seeds.items():
            by_seed.setdefault(s, []).append(y - centre[p])
    effect = {s: float(np.median(v)) for s, v in by_seed.items()}
    deviations: list[tuple[Hashable, int, float, float, int]] = []  # point, seed, deviation, others' var, df
    for p, seeds in several.items():
        adjusted = {s: y - effect[s] for s, y in seeds.items()}
        n, total = len(adjusted), sum(adjusted.values())
        for s, z in adjusted.items():
            others = [v for t, v in adjusted.items() if t != s]
            spread = float(np.var(others, ddof=1)) if len(others) > 1 else 0.0
            deviation = (z - sum(others) / (n - 1)) / math.sqrt(1 + 1 / (n - 1))
            deviations.append((p, s, deviation, spread, len(others) - 1))
    def flagged(scale: float, k: float) -> dict[Hashable, list[int]]:
        out: dict[Hashable, list[int]] = {}
        for p, s, d, spread, df in deviations:
            # Judged by the pool's scale moderated by the point's *other* units' spread: a
            # point whose trainings all scatter has low draws that are real.
            own = math.sqrt((PRIOR_DF * scale ** 2 + df * spread) / (PRIOR_DF + df))
            if d < -k * own and d < -MIN_DROP:
                out.setdefault(p, []).append(s)
        return out

    # The scale from the points with no unit below -SCREEN_K: a straggler's point has all
    # of its deviations widened (the others' mean holds it), and three such points of
    # twelve took the MAD to 1.4x the noise, hiding 10-point drops.
    suspect: dict[Hashable, list[int]] = {}
    for _ in range(3):
        left = [abs(d) for p, _, d, _, _ in deviations if p not in suspect]
        if len(left) < MIN_UNITS:
            return {}
        scale = 1.4826 * float(np.median(left))
        again = flagged(scale, SCREEN_K)
        if again.keys() == suspect.keys():
            break
        suspect = again
    return {p: sorted(s) for p, s in flagged(scale, K).items()}


def screen(obs: Observations) -> tuple[dict[Hashable, dict[int, float]], dict[Hashable, list[int]]]:
    """(the observations without their stragglers, the stragglers by point)."""
    aside = stragglers(obs)
    kept = {p: {s: y for s, y in seeds.items() if s not in aside.get(p, ())} for p, seeds in obs.items()}
    return kept, aside


def retrains(obs: Observations, seeds: int) -> list[tuple[Hashable, int]]:
    """A fixed design's extra units: a point with a straggler among its `seeds` gets one
    more seed (the next index), once."""
    aside = stragglers(obs)
    out = []
    for p, have in obs.items():
        if len(aside.get(p, ())) == 1 and len(have) - 1 < seeds:
            out.extend((p, s) for s in range(seeds + 1) if s not in have)
    return out
