"""Which point is best, and how sure: rankings over seeds with their uncertainty.

A proxy training is one draw: the same point trained with another seed scores a point or
two differently, as much as the differences a search ranks.  So every point may be
trained with several seeds, and seed s of every point shares its validation split, its
training order and its crops and flips (common random numbers, training/loop.py): the
difference between two points *on the same seed* then carries their own noise only, not
the noise of which images came when.

The method, in one place:

- **The model** (stats/twoway.py): acc(p, s) = mu_p + u_s + e by least squares over
  every unit, seed effects removed, each point with its own moderated (empirical Bayes)
  noise variance; Welch-Satterthwaite degrees of freedom for each interval.
- **Contenders** are a confidence set for the best: Hsu's multiple comparisons with the
  best (stats/simultaneous.py).  Guarantee: whatever the true means, the truly best point
  is among the contenders with probability >= `confidence` (under the model: normal noise,
  additive seed effects).  A point outside is *separated*.
- **Decided** means the set holds the leader alone, and the noise was measured on at least
  `MIN_DF` residual degrees of freedom: then the leader is the best with probability
  >= `confidence`.  A point's `low`/`high` is its mean's own (marginal) interval; its
  `diff_low`/`diff_high` the MCB interval of its gap to the leader, at its constant.
- **Within D** (`--delta D`, an indifference zone): the leader's MCB upper bound on how far
  the best may be ahead of it, max_j (x_j - x_L + d_L se_jL)^+ (Hsu 1996, ch. 4: the
  constrained intervals, d_L the leader's own constant), holds with probability >=
  `confidence` with the contender set; "within D" when it is <= D (and `MIN_DF`).  Racing
  with a delta stops once the bound is <= D at its test level.
- **Racing** (`racing_needs`) measures the noise before it decides anything: a second seed
  for the best first draws and for points spread over the rest (`noise_sample`), and no
  decision until that sample is complete and the fit has `MIN_DF` residual df; then more
  seeds, a point at a time, each after a test at a stricter level (`interim_confidence`)
  that a point takes at most max_seeds - 1 times: a point that fails leaves the race.  Its
  guarantee is in `racing_needs`; the set a race ends with is `rank` over all its data.
- **Stragglers** (stats/stragglers.py): a unit far below its point's other seeds is left
  out of the fit (and its point trained once more); `details["stragglers"]` says which.
- **p_best** (missing without a noise estimate: no model to draw from, not 1.00 for
  whichever point one seed put first) is a model probability, not a frequency: the share of posterior draws
  (noise variances from their scaled inverse chi-square, means shrunk towards their
  average by a normal prior fitted to their spread) in which the point is the best.  It
  reads "how likely, if the model is right"; the contender set carries the guarantee.

Everything here is pure: observations in, a Ranking out.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Hashable, Mapping

import numpy as np

from scalesearch.stats.simultaneous import (DRAWS, ONCE_DRAWS, contenders as mcb_contenders, dunnett_constant,
                                            mcb_constants)
from scalesearch.stats.stragglers import screen
from scalesearch.stats.twoway import Noise, Observations, TwoWay, t_quantile

MIN_DF = 4  # no decision on fewer residual degrees of freedom: at df 1-2 a lucky draw decides

__all__ = ["MIN_DF", "Noise", "Observations", "PointStats", "Ranking", "TwoWay", "Difference", "difference",
           "evenly_spaced", "interim_confidence", "noise_sample", "resolvable_gap", "racing_turns", "racing_needs", "rank", "spearman", "t_quantile",
           "versus_control"]


# -- the ranking ------------------------------------------------------------------------------

@dataclass
class PointStats:
    point: Hashable
    mean: float  # least-squares mean over seeds (TwoWay)
    std: float | None  # the raw spread of its own seeds (None with one)
    seeds: int
    low: float  # its mean's own two-sided `confidence` interval; NaN without a noise estimate
    high: float
    diff: float | None = None  # mean difference to the leader (None for the leader)
    diff_low: float = math.nan  # diff -/+ its own MCB constant x its sd: a per-point bound (the margin by
    diff_high: float = math.nan  # which the MCB set judged it), not one of a family of joint intervals
    separated: bool = False  # outside the MCB confidence set for the best
    p_best: float = math.nan  # a model probability (posterior share), not a frequency guarantee; NaN
    # where it was not drawn (racing's quick look) or cannot be: without a noise estimate
    set_aside: int = 0  # its stragglers, left out of `seeds` and the fit (stats/stragglers.py)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Ranking:
    points: list[PointStats]  # best mean first
    leader: Hashable | None
    contenders: list[Hashable]  # the MCB confidence set for the best, the leader first
    decided: bool
    noise: Noise
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)

    def get(self, point: Hashable) -> PointStats:
        return next(p for p in self.points if p.point == point)

    @property
    def best_gap_bound(self) -> float:
        """How far the best may be ahead of the leader, at `confidence` (NaN where not drawn)."""
        return self.details.get("best_gap_bound", math.nan)

    def within(self, delta: float | None) -> bool:
        """Whether the leader is within `delta` of the best at the ranking's confidence."""
        bound = self.best_gap_bound
        return (delta is not None and math.isfinite(bound) and bound <= delta
                and self.noise.known and self.noise.df >= MIN_DF)


def rank(obs: Observations, confidence: float = 0.9, resamples: int = 4000, seed: int = 0,
         draws: int = DRAWS, delta: float | None = None) -> Ranking:
    """Rank points by mean accuracy over seeds: intervals, the MCB contender set, and
    p_best from `resamples` posterior draws; `draws` Monte Carlo draws for the MCB
    constants.  resamples=0 is racing's quick look: no p_best, and MCB constants only
    where the set needs them (the others' diff_low / diff_high are NaN; the set is the same)."""
    obs, aside = screen({p: dict(s) for p, s in obs.items() if s})
    screened = {"stragglers": aside}
    if not obs:
        return Ranking([], None, [], False, Noise(math.nan, 0, "none"), confidence, screened)
    fit = TwoWay(obs)
    means = dict(zip(fit.points, fit.means().tolist()))
    order = sorted(obs, key=lambda p: (-means[p], str(p)))
    leader = order[0]
    known = fit.noise.known
    kept, margins = mcb_contenders(fit, confidence, draws, seed, every=bool(resamples)) if known else (list(obs), {})
    own = {p: fit.mean(p) for p in order}  # (mean, sd, df)
    halves = (t_quantile(0.5 + confidence / 2, np.array([own[p][2] for p in order])) * [own[p][1] for p in order]
              if known else np.full(len(order), math.nan))
    stats = []
    for p, half in zip(order, halves.tolist()):
        values = list(obs[p].values())
        n = len(values)
        raw = sum(values) / n
        std = math.sqrt(sum((v - raw) ** 2 for v in values) / (n - 1)) if n > 1 else None
        mean = own[p][0]
        ps = PointStats(p, mean, std, n, mean - half, mean + half, set_aside=len(aside.get(p, ())))
        if p != leader:
            ps.diff, dsd, _ = fit.diff(p, leader)
            margin = margins.get(p, math.nan) * dsd
            ps.diff_low, ps.diff_high = ps.diff - margin, ps.diff + margin
            ps.separated = known and p not in kept
        stats.append(ps)
    if resamples:
        best = fit.posterior_draws(resamples, seed).argmax(axis=1)
        share = {p: float((best == i).mean()) for i, p in enumerate(fit.points)}
        for ps in stats:
            ps.p_best = share[ps.point] if known else math.nan  # one seed each: no model to draw from
    contenders = [p.point for p in stats if not p.separated]
    decided = len(stats) > 1 and contenders == [leader] and known and fit.noise.df >= MIN_DF
    details = {"mcb_constants": margins, "prior_df": fit.prior_df, **screened}
    if known and len(stats) > 1 and (resamples or delta is not None):
        details["best_gap_bound"] = _best_gap_bound(fit, leader, confidence, draws, seed, margins.get(leader))
    return Ranking(stats, leader, contenders, decided, fit.noise, confidence, details)


def _best_gap_bound(fit: TwoWay, leader: Hashable, confidence: float, draws: int, seed: int,
                    drawn: float | None = None) -> float:
    """max_j (x_j - x_L + d_L se_jL)^+: the leader's MCB upper bound on mu_best - mu_L.
    `drawn`: d_L where the contender set already drew it (the draws do not depend on
    which columns are asked: simultaneous.studentized)."""
    i = fit.points.index(leader)
    d = float(drawn) if drawn is not None and math.isfinite(drawn) else float(
        mcb_constants(fit, confidence, draws, seed, [i])[0])
    bound = 0.0
    for j, other in enumerate(fit.points):
        if j != i:
            gap, sd, _ = fit.diff(other, leader)
            bound = max(bound, gap + d * sd)
    return bound


def resolvable_gap(ranking: Ranking, seeds: int, gap: float = 0.01) -> dict[str, float] | None:
    """What this design can tell apart: the smallest gap to the leader separated at the
    ranking's confidence for a point with `seeds` seeds beside a leader with as many
    (d * sigma * sqrt(2 / seeds), d the median of the drawn MCB constants of the points
    behind the leader, sigma the pooled noise), and about how many seeds per point `gap`
    would need (d held at its value: more seeds give more df and a slightly smaller d, so
    the count errs high).  None without a noise estimate or a drawn constant."""
    constants = [c for p, c in ranking.details.get("mcb_constants", {}).items()
                 if p != ranking.leader and math.isfinite(c)]
    if not ranking.noise.known or not constants or seeds < 1:
        return None
    d, sigma = float(np.median(constants)), ranking.noise.sd
    return {"gap": d * sigma * math.sqrt(2 / seeds), "seeds": seeds, "constant": d,
            "for_gap": gap, "seeds_for_gap": math.ceil(2 * (d * sigma / gap) ** 2)}


# -- racing ------------------------------------------------------------------------------------

def noise_sample(obs: Observations, top: int = 3, spread: int = 2) -> list[Hashable]:
    """The points racing seeds twice to measure the noise: the `top` best first seeds and
    `spread` more at evenly spaced ranks of the rest, the lowest included.

    Not the top alone: seed noise differs between points (on MobileNetV2 at the default
    budget the three best points' spread was 0.6-1.6 points, the wide ones' 3-4), and an
    estimate from the top only was a third of the grid's (0.76 against 2.35 points), which
    separated points on one unlucky draw.  Ranked by first seeds only, so the sample stays
    the same as more seeds come in, and every worker computes the same one.
    """
    first = [p for p in obs if 0 in obs[p]]
    order = sorted(first, key=lambda p: (-obs[p][0], str(p)))
    return order[:top] + evenly_spaced(order[top:], spread)


def evenly_spaced(ranked: list[Hashable], count: int) -> list[Hashable]:
    """`count` of `ranked` at evenly spaced ranks, its last (lowest) included, in rank order."""
    if not ranked or count <= 0:
        return []
    picks = sorted({round((i + 1) * (len(ranked) - 1) / count) for i in range(min(count, len(ranked)))})
    return [ranked[i] for i in picks]


INTERIM_SHARE = 0.4  # of 1 - confidence, spent by racing's tests together (racing_needs); chosen by simulation


def interim_confidence(confidence: float, max_seeds: int) -> float:
    """The confidence of each of racing's tests: `INTERIM_SHARE` of the error
    1 - confidence, split evenly (Bonferroni) over the at most max_seeds - 1 tests a
    point takes (at confidence 0.9 and 3 seeds: 0.98).  INTERIM_SHARE was chosen on
    simulated grids (200 races each, the benchmark's cases, before the leader went last):
    0.25 kept a flat grid's tied points at the nominal rate (10.0 %) but spent 0.82 of
    `--seeds 3`'s trainings on a +3 sd point, 0.5 spent 0.78 but cut tied points in
    11.4 % of races, and 1.0 (tests at 0.95) in 13.7 %.  At 0.4, over 1,000 races: 10.0 %,
    and a +3 sd point decided in 65 % on 0.80 (0.82 until the baseline, which takes no
    part in the race, stopped at two seeds: search/worker.baseline_seeds)."""
    tests = max(1, max_seeds - 1)
    return 1 - INTERIM_SHARE * (1 - confidence) / tests


def racing_needs(obs: Observations, ranking: Ranking, max_seeds: int, top: int = 3,
                 spread: int = 2, delta: float | None = None) -> list[tuple[Hashable, int]]:
    """The next units racing wants: (point, seed index), the next one first.

    First every point of the noise sample (`noise_sample`) gets a second seed, whatever
    the ranking says: a decision on a half-measured noise is a decision on one lucky draw
    (at 1 df, a 12-point null grid was "decided" in 57 % of such cases).  Then, a unit at
    a time (`racing_turns`), the point still in the race with the fewest seeds (the best
    first among equals, but the leader last, so a race whose rivals all leave ends without
    the leader's last seed) has its *turn*: it is tested -- is it in the MCB set of all the
    data so far, drawn at `interim_confidence`? -- and gets its next seed if it is, or
    leaves the race for good if it is not.  The race ends when one point is left (with
    `MIN_DF` residual df) or every point left has `max_seeds`.

    Guarantee.  Let alpha = 1 - confidence and b a truly best point.  b is tested at most
    max_seeds - 1 times (once before each of its seeds after the first), and each test
    keeps it with probability >= 1 - alpha_I / (max_seeds - 1) (the MCB set's guarantee,
    stats/simultaneous.py), so by the union bound b leaves the race with probability
    <= alpha_I = INTERIM_SHARE * alpha, however many units the race looks after.  The
    statement a user reads is not a test but the final set: `rank` over all the data at
    `confidence`, where a point that left the race is ranked on the seeds it has (and may
    be a contender again).  If b never left the race it has every seed, and that set keeps
    it with probability >= 1 - alpha, as for a fixed design.  So
    P(b not among the final contenders) <= alpha + alpha_I.  The two events overlap (a
    point leaves the race on a deficit its frozen seeds still carry at the end), and
    benchmarks/calibration.py measures whether the total stays within alpha: on a flat
    12-point grid, 1,000 races, a tied point ended cut in 10.0 % (MC se 0.9) against
    `--seeds 3`'s 8.5 % on the same cases (README, *Calibration*).  Racing's earlier rule --
    every point re-tested after every unit, at `confidence` -- cut a tied point of a flat
    12-point grid in 17 % of races for a nominal 10 %: every look was one more chance.
    (Both bounds take each test's MCB set as valid for the design it sees; racing chooses
    that design from earlier draws, which is why the rates are also measured.)

    After the next unit, the list holds the other points due a seed in the same round that
    are in the set now, for parallel workers; a later test may leave such a unit unused by
    the race (the final ranking still counts it).  `ranking` is the caller's ranking of
    `obs`; racing reads its confidence from it.
    """
    if not ranking.points or max_seeds < 2:
        return []
    sample = noise_sample(obs, top, spread)
    unmeasured = [p for p in sample if len(obs[p]) < min(2, max_seeds)]
    if unmeasured:
        return [(p, _next_seed(obs[p])) for p in unmeasured]
    return racing_turns(obs, sample, max_seeds, interim_confidence(ranking.confidence, max_seeds), delta)


def racing_turns(obs: Observations, sample: list[Hashable], max_seeds: int,
                 level: float, delta: float | None = None) -> list[tuple[Hashable, int]]:
    """Racing's turns replayed on `obs` from the noise sample on (`racing_needs`): the
    units the race consumes, in its own order, as far as `obs` has them; then the unit it
    waits for (and the round's other points in the set now).  A function of `obs` alone,
    so every worker computes the same race, and a unit trained meanwhile never changes a
    turn already taken."""
    seen = {p: {s: v for s, v in seeds.items() if s == 0 or (s == 1 and p in sample)} for p, seeds in obs.items()}
    racing = set(obs)
    while True:
        look = _look(seen, level, delta)
        if not look.noise.known or (len(racing) <= 1 and look.noise.df >= MIN_DF) or look.within(delta):
            return []  # one point left, or (--delta) the leader within delta of the best
        aside = look.details.get("stragglers", {})

        def kept(p: Hashable) -> int:  # a straggler is no seed: its point is trained once more
            return len(seen[p]) - len(aside.get(p, ()))

        due = [p.point for p in look.points if p.point in racing and kept(p.point) < max_seeds]
        if not due:
            return []
        fewest = min(kept(p) for p in due)
        due = [p for p in due if kept(p) == fewest]
        due = [p for p in due if p != look.leader] + [p for p in due if p == look.leader]  # the leader last
        turn = due[0]
        if turn not in look.contenders:
            racing.discard(turn)  # its test: out of the race for good
            continue
        seed = _next_seed(seen[turn])
        if seed not in obs[turn]:
            return [(turn, seed)] + [(p, _next_seed(seen[p])) for p in due[1:] if p in look.contenders]
        seen[turn][seed] = obs[turn][seed]


def _look(look: Observations, confidence: float, delta: float | None = None) -> Ranking:
    """`rank` at a test's level, memoized (the Ranking is shared: read it, never change it):
    racing replays the same turns after every unit."""
    key = tuple(sorted(((str(p), p, tuple(sorted(s.items()))) for p, s in look.items()), key=lambda t: t[0]))
    return _cached_look(key, confidence, delta)


@functools.lru_cache(maxsize=512)
def _cached_look(key, confidence: float, delta: float | None = None) -> Ranking:
    return rank({p: dict(seeds) for _, p, seeds in key}, confidence, resamples=0, delta=delta)


def _next_seed(seeds: Mapping[int, float]) -> int:
    return next(s for s in range(len(seeds) + 1) if s not in seeds)


# -- differences between named things (compare, transfer) ---------------------------------------

@dataclass(frozen=True)
class Difference:
    """a - b (least squares over seeds, seed effects removed), its two-sided interval."""

    mean: float | None
    low: float
    high: float
    noise: str  # seed-paired | none
    simultaneous: bool = False  # the interval is one of a family that holds at once (Dunnett)

    @property
    def verdict(self) -> str:
        """What the interval says about a against b: beats, ties, loses to, or undecided."""
        if self.mean is None or not math.isfinite(self.low):
            return "undecided"
        if self.low > 0:
            return "beats"
        if self.high < 0:
            return "loses to"
        return "ties"


def difference(fit: TwoWay, a: Hashable, b: Hashable, confidence: float = 0.9) -> Difference:
    """a - b alone, with its own Student-t interval (Welch-Satterthwaite df): for one
    comparison fixed in advance; a family of them needs `versus_control`."""
    mean, sd, df = fit.diff(a, b)
    if not fit.noise.known:
        return Difference(mean, math.nan, math.nan, "none")
    half = t_quantile(0.5 + confidence / 2, df) * sd
    return Difference(mean, mean - half, mean + half, fit.noise.kind)


def versus_control(fit: TwoWay, control: Hashable, confidence: float = 0.9, draws: int = ONCE_DRAWS,
                   seed: int = 0) -> dict[Hashable, Difference]:
    """control - other for every other point, as Dunnett's simultaneous intervals
    (stats/simultaneous.py): with probability >= `confidence` every interval covers its
    truth at once, so no "beats" or "loses to" in the family is wrong, under the model."""
    others = [p for p in fit.points if p != control]
    if not fit.noise.known or not others:
        return {o: Difference(fit.diff(control, o)[0], math.nan, math.nan, "none") for o in others}
    d = dunnett_constant(fit, control, others, confidence, draws, seed)
    out = {}
    for other in others:
        mean, sd, _ = fit.diff(control, other)
        out[other] = Difference(mean, mean - d * sd, mean + d * sd, fit.noise.kind, True)
    return out


# -- rank correlations ---------------------------------------------------------------------------

def _ranks(values: list[float]) -> list[float]:
    """Ranks from 1, ties sharing their mean rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's rank correlation (Pearson on ranks, ties averaged); NaN under 3 pairs."""
    if len(x) != len(y) or len(x) < 3:
        return math.nan
    rx, ry = _ranks(list(x)), _ranks(list(y))
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else math.nan
