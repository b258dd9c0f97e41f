"""Which point is best, and how sure: rankings over seeds with their uncertainty.

A proxy training is one draw: the same point trained with another seed scores a point or
two differently, as much as the differences a search ranks.  So every point may be
trained with several seeds, and seed s of every point shares its validation split, its
training order and its crops and flips (common random numbers, training/loop.py): the
difference between two points *on the same seed* then carries their own noise only, not
the noise of which images came when.

The method, in one place:

- **The model** (search/twoway.py): acc(p, s) = mu_p + u_s + e by least squares over
  every unit, seed effects removed, each point with its own moderated (empirical Bayes)
  noise variance; Welch-Satterthwaite degrees of freedom for each interval.
- **Contenders** are a confidence set for the best: Hsu's multiple comparisons with the
  best (search/simultaneous.py).  Guarantee: whatever the true means, the truly best point
  is among the contenders with probability >= `confidence` (under the model: normal noise,
  additive seed effects).  A point outside is *separated*.
- **Decided** means the set holds the leader alone, and the noise was measured on at least
  `MIN_DF` residual degrees of freedom: then the leader is the best with probability
  >= `confidence`.  A point's `low`/`high` is its mean's own (marginal) interval; its
  `diff_low`/`diff_high` the MCB interval of its gap to the leader, at its constant.
- **Racing** (`racing_needs`) measures the noise before it decides anything: a second seed
  for the best first draws and for points spread over the rest (`noise_sample`), and no
  decision until that sample is complete and the fit has `MIN_DF` residual df; then more
  seeds for the contenders only.
- **p_best** is a model probability, not a frequency: the share of posterior draws
  (noise variances from their scaled inverse chi-square, means shrunk towards their
  average by a normal prior fitted to their spread) in which the point is the best.  It
  reads "how likely, if the model is right"; the contender set carries the guarantee.

Everything here is pure: observations in, a Ranking out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Hashable, Mapping

import numpy as np

from scalesearch.search.simultaneous import DRAWS, ONCE_DRAWS, contenders as mcb_contenders, dunnett_constant
from scalesearch.search.twoway import Noise, Observations, TwoWay, t_quantile

MIN_DF = 4  # no decision on fewer residual degrees of freedom: at df 1-2 a lucky draw decides

__all__ = ["MIN_DF", "Noise", "Observations", "PointStats", "Ranking", "TwoWay", "Difference", "difference",
           "noise_sample", "racing_needs", "rank", "spearman", "t_quantile", "versus_control"]


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
    diff_low: float = math.nan  # diff -/+ its MCB constant x its sd
    diff_high: float = math.nan
    separated: bool = False  # outside the MCB confidence set for the best
    p_best: float = 0.0  # a model probability (posterior share), not a frequency guarantee

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


def rank(obs: Observations, confidence: float = 0.9, resamples: int = 4000, seed: int = 0,
         draws: int = DRAWS) -> Ranking:
    """Rank points by mean accuracy over seeds: intervals, the MCB contender set, and
    p_best from `resamples` posterior draws; `draws` Monte Carlo draws for the MCB
    constants.  resamples=0 is racing's quick look: no p_best, and MCB constants only
    where the set needs them (the others' diff_low / diff_high are NaN; the set is the same)."""
    obs = {p: dict(s) for p, s in obs.items() if s}
    if not obs:
        return Ranking([], None, [], False, Noise(math.nan, 0, "none"), confidence)
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
        ps = PointStats(p, mean, std, n, mean - half, mean + half)
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
            ps.p_best = share[ps.point] if known else float(ps.point == leader)
    contenders = [p.point for p in stats if not p.separated]
    decided = len(stats) > 1 and contenders == [leader] and known and fit.noise.df >= MIN_DF
    return Ranking(stats, leader, contenders, decided, fit.noise, confidence,
                   {"mcb_constants": margins, "prior_df": fit.prior_df})


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
    head, rest = order[:top], order[top:]
    if not rest or spread <= 0:
        return head
    picks = sorted({round((i + 1) * (len(rest) - 1) / spread) for i in range(min(spread, len(rest)))})
    return head + [rest[i] for i in picks]


def racing_needs(obs: Observations, ranking: Ranking, max_seeds: int, top: int = 3,
                 spread: int = 2) -> list[tuple[Hashable, int]]:
    """The next units racing wants: (point, seed index), most useful first.

    First every point of the noise sample (`noise_sample`) gets a second seed, whatever
    the ranking says: a decision on a half-measured noise is a decision on one lucky draw
    (at 1 df, a 12-point null grid was "decided" in 57 % of such cases).  Then, unless the
    ranking is decided (which needs `MIN_DF` residual df), every contender gets one more
    seed, those with the fewest first, up to `max_seeds`.
    """
    if not ranking.points:
        return []
    unmeasured = [p for p in noise_sample(obs, top, spread) if len(obs[p]) < min(2, max_seeds)]
    if unmeasured:
        return [(p, _next_seed(obs[p])) for p in unmeasured]
    if ranking.decided or not ranking.noise.known:
        return []
    wanted = [p for p in ranking.points if p.point in ranking.contenders and p.seeds < max_seeds]
    fewest = min((p.seeds for p in wanted), default=None)
    return [(p.point, _next_seed(obs[p.point])) for p in wanted if p.seeds == fewest]


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
    (search/simultaneous.py): with probability >= `confidence` every interval covers its
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
