"""Which point is best, and how sure: rankings over seeds with their uncertainty.

A proxy training is one draw: the same point trained with another seed scores a point or
two differently, as much as the differences a search ranks.  So every point may be
trained with several seeds, and seed s of every point shares its validation split, its
training order and its crops and flips (common random numbers, training/loop.py): the
difference between two points *on the same seed* then carries their own noise only, not
the noise of which images came when.

The method, in one place:

- **Paired differences.**  acc(p, s) = mu_p + u_s + e is fitted by least squares over
  every unit (`TwoWay`): u_s is what seed s did to every point alike, so mu_p - mu_L is
  the paired difference to the leader L, done for an unbalanced table (one point with
  three seeds, another with one).
- **Pooled noise.**  With two or three seeds a point's own spread says little, so the
  variance of e is pooled over every point's residuals, its degrees of freedom the
  units beyond one per point and one per seed.  That assumes every point is about as
  noisy as the next; where they are not, the pool is only as good as the points in it
  (see Racing).  With one seed per point there is no estimate (`none`), and no point can
  be told apart from the leader.
- **Intervals** are Student-t with the pooled degrees of freedom: the difference's
  two-sided interval at `confidence` is reported; a point is *separated* (significantly
  worse) when the one-sided upper bound at `confidence` is below zero.
- **Decided** means the leader is separated from every other point; the points it is
  not separated from are its *contenders* (it included).
- **Racing** (`racing_needs`) measures that noise before it trusts it: a second seed for
  the best first draws and for points spread over the rest (`noise_sample`), then more
  seeds for the contenders only.
- **p_best** is a parametric bootstrap over seeds: each resample draws every point's
  mean from the fit's means and their covariance (the pooled noise over each point's
  seeds); p_best is the share of resamples in which the point is the best.

Everything here is pure: observations in, a Ranking out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Hashable, Mapping

Observations = Mapping[Hashable, Mapping[int, float]]  # point -> seed -> accuracy


# -- Student's t, without scipy --------------------------------------------------------------

def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def _incomplete_beta(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The p-quantile of Student's t with `df` degrees of freedom (bisection on the CDF)."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    low, high = -1e3, 1e3
    for _ in range(200):
        mid = (low + high) / 2
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
    return (low + high) / 2


# -- the model: accuracy = point + seed + noise ---------------------------------------------

@dataclass(frozen=True)
class Noise:
    """The noise of one training (sd) and its degrees of freedom, from the model's residuals."""

    sd: float  # NaN when kind == "none"
    df: int
    kind: str  # "seed-paired" (the two-way fit) | "none"

    @property
    def known(self) -> bool:
        return self.kind != "none" and self.df > 0


class TwoWay:
    """Least squares fit of acc(p, s) = mu_p + u_s + e over every observation.

    u_s is what seed s does to every point alike (its validation split, data order, crops:
    the common random numbers); e is a training's own noise.  Differences mu_p - mu_q are
    then estimated from every seed of both points, seed effects removed, with the
    residual variance pooled over all points: the paired comparison done for an
    unbalanced table (one point with 3 seeds, another with 1).
    """

    def __init__(self, obs: Observations):
        import numpy as np

        self.points = sorted(obs, key=str)
        self.seeds = sorted({s for seeds in obs.values() for s in seeds})
        index = {p: i for i, p in enumerate(self.points)}
        seed_col = {s: len(self.points) + i - 1 for i, s in enumerate(self.seeds) if i > 0}
        rows = [(p, s, y) for p, seeds in obs.items() for s, y in seeds.items()]
        x = np.zeros((len(rows), len(self.points) + len(self.seeds) - 1))
        y = np.array([r[2] for r in rows], dtype=float)
        for k, (p, s, _) in enumerate(rows):
            x[k, index[p]] = 1.0
            if s in seed_col:
                x[k, seed_col[s]] = 1.0
        beta, _, rank_, _ = np.linalg.lstsq(x, y, rcond=None)
        residual = y - x @ beta
        self.df = len(rows) - int(rank_)
        sigma2 = float(residual @ residual) / self.df if self.df > 0 else math.nan
        self.noise = Noise(math.sqrt(sigma2), self.df, "seed-paired") if self.df > 0 else Noise(math.nan, 0, "none")
        self._index, self._beta = index, beta
        self._cov = sigma2 * np.linalg.pinv(x.T @ x) if self.df > 0 else None
        # Least-squares means: mu_p plus the average seed effect, comparable across points
        # that were trained with different seeds.
        average = np.zeros(len(beta))
        average[len(self.points):] = 1.0 / len(self.seeds)
        self._average = average

    def _contrast(self, *terms: tuple[Hashable, float]):
        import numpy as np

        c = np.zeros(len(self._beta))
        for point, weight in terms:
            c[self._index[point]] += weight
        return c

    def mean(self, point: Hashable) -> tuple[float, float]:
        """(least-squares mean, its sd; NaN without a noise estimate)."""
        c = self._contrast((point, 1.0)) + self._average
        return float(c @ self._beta), self._sd(c)

    def diff(self, a: Hashable, b: Hashable) -> tuple[float, float]:
        """(mu_a - mu_b, its sd; NaN without a noise estimate)."""
        c = self._contrast((a, 1.0), (b, -1.0))
        return float(c @ self._beta), self._sd(c)

    def _sd(self, c) -> float:
        return math.sqrt(max(0.0, float(c @ self._cov @ c))) if self._cov is not None else math.nan

    def draws(self, resamples: int, seed: int):
        """Resampled least-squares means (resamples x points), for p_best."""
        import numpy as np

        centre = np.array([self.mean(p)[0] for p in self.points])
        if self._cov is None:
            return np.tile(centre, (resamples, 1))
        means = np.stack([self._contrast((p, 1.0)) + self._average for p in self.points])
        cov = means @ self._cov @ means.T
        return np.random.default_rng(seed).multivariate_normal(centre, cov, size=resamples, method="eigh")


# -- the ranking ------------------------------------------------------------------------------

@dataclass
class PointStats:
    point: Hashable
    mean: float  # least-squares mean over seeds (TwoWay)
    std: float | None  # the raw spread of its own seeds (None with one)
    seeds: int
    low: float  # two-sided `confidence` interval of the mean; NaN without a noise estimate
    high: float
    diff: float | None = None  # mean difference to the leader (None for the leader)
    diff_low: float = math.nan
    diff_high: float = math.nan
    separated: bool = False  # significantly worse than the leader (one-sided)
    p_best: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Ranking:
    points: list[PointStats]  # best mean first
    leader: Hashable | None
    contenders: list[Hashable]  # not separated from the leader, the leader first
    decided: bool
    noise: Noise
    confidence: float
    details: dict[str, Any] = field(default_factory=dict)

    def get(self, point: Hashable) -> PointStats:
        return next(p for p in self.points if p.point == point)


def rank(obs: Observations, confidence: float = 0.9, resamples: int = 4000, seed: int = 0) -> Ranking:
    """Rank points by mean accuracy over seeds, with intervals and the separation test
    (p_best from `resamples` draws; 0 leaves it out)."""
    obs = {p: dict(s) for p, s in obs.items() if s}
    if not obs:
        return Ranking([], None, [], False, Noise(math.nan, 0, "none"), confidence)
    fit = TwoWay(obs)
    means = {p: fit.mean(p) for p in obs}
    order = sorted(obs, key=lambda p: (-means[p][0], str(p)))
    leader = order[0]
    known = fit.noise.known
    two_sided = t_quantile(0.5 + confidence / 2, fit.df) if known else math.nan
    one_sided = t_quantile(1 - (1 - confidence) / 2, fit.df) if known else math.nan
    stats = []
    for p in order:
        values = list(obs[p].values())
        n, (mean, sd) = len(values), means[p]
        raw = sum(values) / n
        std = math.sqrt(sum((v - raw) ** 2 for v in values) / (n - 1)) if n > 1 else None
        ps = PointStats(p, mean, std, n, mean - two_sided * sd, mean + two_sided * sd)
        if p != leader:
            ps.diff, dsd = fit.diff(p, leader)
            ps.diff_low, ps.diff_high = ps.diff - two_sided * dsd, ps.diff + two_sided * dsd
            ps.separated = known and ps.diff + one_sided * dsd < 0
        stats.append(ps)
    if resamples:
        best = fit.draws(resamples, seed).argmax(axis=1)
        share = {p: float((best == i).mean()) for i, p in enumerate(fit.points)}
        for ps in stats:
            ps.p_best = share[ps.point] if known else float(ps.point == leader)
    contenders = [p.point for p in stats if not p.separated]
    decided = len(stats) > 1 and contenders == [leader]
    return Ranking(stats, leader, contenders, decided, fit.noise, confidence)


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

    Undecided, every point of the noise sample (`noise_sample`) first gets a second seed;
    then every contender gets one more seed, those with the fewest first, up to
    `max_seeds`; nothing once decided.
    """
    if ranking.decided or not ranking.points:
        return []
    unmeasured = [p for p in noise_sample(obs, top, spread) if len(obs[p]) < min(2, max_seeds)]
    if unmeasured or not ranking.noise.known:
        return [(p, _next_seed(obs[p])) for p in unmeasured]
    wanted = [p for p in ranking.points if p.point in ranking.contenders and p.seeds < max_seeds]
    fewest = min((p.seeds for p in wanted), default=None)
    return [(p.point, _next_seed(obs[p.point])) for p in wanted if p.seeds == fewest]


def _next_seed(seeds: Mapping[int, float]) -> int:
    return next(s for s in range(len(seeds) + 1) if s not in seeds)


# -- a difference between two named things (compare) --------------------------------------------

@dataclass(frozen=True)
class Difference:
    """a - b (least squares over seeds, seed effects removed), its two-sided interval."""

    mean: float | None
    low: float
    high: float
    noise: str  # seed-paired | none

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
    """a - b from one fit of every method's seeds (noise pooled over all of them)."""
    mean, sd = fit.diff(a, b)
    if not fit.noise.known:
        return Difference(mean, math.nan, math.nan, "none")
    half = t_quantile(0.5 + confidence / 2, fit.df) * sd
    return Difference(mean, mean - half, mean + half, fit.noise.kind)


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
