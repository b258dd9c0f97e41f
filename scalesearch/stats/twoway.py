"""The model every ranking rests on: accuracy = point + seed + noise, with each point's noise.

acc(p, s) = mu_p + u_s + e is fitted by least squares over every unit (`TwoWay`): u_s is
what seed s did to every point alike (its validation split, data order, crops: the common
random numbers of training/loop.py), so mu_p - mu_q is the paired difference, done for an
unbalanced table (one point with three seeds, another with one).

The noise e is not the same for every point: on MobileNetV2 the best points' seed spread
was 0.6-1.6 points and the wide ones' 3-4.  One pooled variance then makes the steady
points look noisier than they are and the wide ones steadier, and a wide point tied for
best is cut on one lucky draw of its rival.  So each point gets a *moderated* variance
(empirical Bayes, as limma does for genes: Smyth, "Linear models and empirical Bayes
methods for assessing differential expression", 2004):

    s~_p^2 = (d0 * s0^2 + d_p * s_p^2) / (d0 + d_p)

s0^2 is the pooled residual variance, s_p^2 the point's own (its residuals' sum of
squares over d_p = sum of 1 - leverage over its units: its share of the residual degrees
of freedom), d0 how far points' variances spread around the pool, estimated from the
s_p^2 by limma's method of moments and never below `PRIOR_DF` (a stated prior: with a few
one-df variances the estimate itself is noise).  When the s_p^2 spread no more than
sampling does, d0 is infinite and every point has the pooled variance (`pooled`).  A point
with one seed has d_p = 0: the pooled value.  And no point's variance is taken below the
pool's (`TwoWay.__init__` says why): the moderation widens the wide points, it does not
narrow the steady ones.

Each point's s~_p^2 then has d0 + d_p degrees of freedom (at most the pool's); a
simultaneous constant draws the estimate as it is built (`variance_factors`); a contrast's
variance is sum_p w_p s~_p^2 (w_p: the squared
weights of its units, the sandwich form of least squares with unequal noise), its degrees
of freedom Welch-Satterthwaite's.  Pure: observations in, numbers out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Hashable, Mapping

import numpy as np
from scipy import special, stats

Observations = Mapping[Hashable, Mapping[int, float]]  # point -> seed -> accuracy

PRIOR_DF = 4.0  # the least d0: a point's variance borrows at least 4 df from the pool
MIN_OWN_DF = 0.25  # a point with less residual share than this has no variance of its own


@dataclass(frozen=True)
class Noise:
    """The noise of one training (sd, the pooled value) and its degrees of freedom."""

    sd: float  # NaN when kind == "none"
    df: int
    kind: str  # "seed-paired" (the two-way fit) | "none"
    prior_df: float = math.inf  # d0 of the moderated per-point variances (inf: pooled)

    @property
    def known(self) -> bool:
        return self.kind != "none" and self.df > 0


def _trigamma_inverse(y: float) -> float:
    """x with trigamma(x) = y (Newton, as limma's trigammaInverse)."""
    if y > 1e7:
        return 1 / math.sqrt(y)
    if y < 1e-6:
        return 1 / y
    x = 0.5 + 1 / y
    for _ in range(50):
        tri = float(special.polygamma(1, x))
        step = tri * (1 - tri / y) / float(special.polygamma(2, x))
        x += step
        if -step / x < 1e-8:
            break
    return x


def prior_df(variances: np.ndarray, dfs: np.ndarray) -> float:
    """d0 from points' own variances (limma's fitFDist by moments): inf when they spread
    no more than chi-square sampling does, never below PRIOR_DF; PRIOR_DF with fewer than
    three points to estimate it from."""
    keep = (dfs >= MIN_OWN_DF) & (variances > 0)
    if keep.sum() < 3:
        return PRIOR_DF
    v, d = variances[keep], dfs[keep]
    z = np.log(v) - special.digamma(d / 2) + np.log(d / 2)
    excess = float(np.var(z, ddof=1) - np.mean(special.polygamma(1, d / 2)))
    if excess <= 0:
        return math.inf
    return max(PRIOR_DF, 2 * _trigamma_inverse(excess))


class TwoWay:
    """Least squares fit of acc(p, s) = mu_p + u_s + e over every observation, with each
    point's moderated noise variance (module docstring).

    `prior` fixes d0 (math.inf: one pooled variance for all, as a homoscedastic model);
    None estimates it.
    """

    def __init__(self, obs: Observations, prior: float | None = None):
        self.points = sorted(obs, key=str)
        self.seeds = sorted({s for seeds in obs.values() for s in seeds})
        P, S = len(self.points), len(self.seeds)
        self._index = {p: i for i, p in enumerate(self.points)}
        seed_col = {s: P + i - 1 for i, s in enumerate(self.seeds) if i > 0}
        rows = [(p, s, y) for p, seeds in obs.items() for s, y in seeds.items()]
        x = np.zeros((len(rows), P + S - 1))
        owner = np.zeros((len(rows), P))  # unit -> its point
        for k, (p, s, _) in enumerate(rows):
            x[k, self._index[p]] = owner[k, self._index[p]] = 1.0
            if s in seed_col:
                x[k, seed_col[s]] = 1.0
        y = np.array([r[2] for r in rows], dtype=float)
        solve = np.linalg.pinv(x.T @ x) @ x.T  # parameters x units
        self._beta = solve @ y
        residual = y - x @ self._beta
        rank_ = int(np.linalg.matrix_rank(x))
        self.df = len(rows) - rank_
        leverage = np.einsum("ij,ji->i", x, solve)
        own_df = owner.T @ (1 - leverage)
        own_ss = owner.T @ residual ** 2
        pooled = float(residual @ residual) / self.df if self.df > 0 else math.nan
        own = np.where(own_df >= MIN_OWN_DF, own_ss / np.maximum(own_df, 1e-12), math.nan)
        d0 = math.inf if self.df <= 0 else (prior if prior is not None else prior_df(own, own_df))
        if d0 >= self.df:  # the pool is as good as a prior gets: one variance for all
            d0 = math.inf
        self.prior_df = d0
        self.pooled = math.isinf(d0)
        if self.pooled or self.df <= 0:
            self.variances = np.full(P, pooled)
            self.variance_df = np.full(P, float(self.df))
        else:
            has = own_df >= MIN_OWN_DF
            self._pool_share = d0 / (d0 + np.where(has, own_df, 0.0))  # lambda_p: the pool's weight
            self._own_df = np.where(has, own_df, 1.0)
            self._pooled, self._own = pooled, np.where(has, own, pooled)
            shrunk = (d0 * pooled + own_df * np.where(has, own, 0.0)) / (d0 + np.where(has, own_df, 0.0))
            # Never below the pool: with d0 estimated from a few one-df variances, a point
            # that drew a low one looked steadier than it was, and a homoscedastic 4-method
            # compare gave false verdicts 17 % of the time where d0 came out finite.  Wide
            # points, what the moderation is for, still get their larger variance.
            self.variances = np.maximum(np.where(has, shrunk, pooled), pooled)
            self.variance_df = np.minimum(d0 + np.where(has, own_df, 0.0), self.df)
        self.noise = (Noise(math.sqrt(pooled), self.df, "seed-paired", d0) if self.df > 0
                      else Noise(math.nan, 0, "none"))
        # Least-squares means: mu_p plus the average seed effect, comparable across points
        # trained with different seeds; `_unit_weights` maps them onto the units.
        means = np.zeros((P, len(self._beta)))
        means[:, :P] = np.eye(P)
        means[:, P:] = 1.0 / S
        self._unit_weights = means @ solve  # points x units
        self._owner = owner
        # weight[i, j, p]: how much point p's variance enters Var(mean_i - mean_j).
        gaps = self._unit_weights[:, None, :] - self._unit_weights[None, :, :]
        self.pair_weights = (gaps ** 2) @ owner
        self.mean_weights = (self._unit_weights ** 2) @ owner

    @property
    def known(self) -> bool:
        return self.noise.known

    @property
    def _means(self) -> np.ndarray:
        P = len(self.points)
        return self._beta[:P] + self._beta[P:].sum() / len(self.seeds)

    def means(self) -> np.ndarray:
        """Every point's least-squares mean, in `points` order."""
        return self._means

    def covariance(self, variances: np.ndarray | None = None) -> np.ndarray:
        """Covariance of the least-squares means given each point's noise variance."""
        v = self.variances if variances is None else variances
        unit_var = self._owner @ v
        return (self._unit_weights * unit_var) @ self._unit_weights.T

    def contrast_df(self, weights: np.ndarray) -> float:
        """Welch-Satterthwaite degrees of freedom of sum_p weights_p * s~_p^2."""
        if self.pooled:
            return float(self.df)
        parts = weights * self.variances
        denominator = float(np.sum(parts ** 2 / self.variance_df))
        return min(float(self.df), float(parts.sum()) ** 2 / denominator) if denominator > 0 else float(self.df)

    def mean(self, point: Hashable) -> tuple[float, float, float]:
        """(least-squares mean, its sd, its df; NaN without a noise estimate)."""
        i = self._index[point]
        w = self.mean_weights[i]
        if not self.known:
            return float(self._means[i]), math.nan, math.nan
        return float(self._means[i]), math.sqrt(float(w @ self.variances)), self.contrast_df(w)

    def diff(self, a: Hashable, b: Hashable) -> tuple[float, float, float]:
        """(mu_a - mu_b, its sd, its df; NaN without a noise estimate)."""
        i, j = self._index[a], self._index[b]
        mean = float(self._means[i] - self._means[j])
        if not self.known:
            return mean, math.nan, math.nan
        w = self.pair_weights[i, j]
        return mean, math.sqrt(float(w @ self.variances)), self.contrast_df(w)

    def errors(self, rng: np.random.Generator, variances: np.ndarray, draws: int = 1) -> np.ndarray:
        """Draws of the means' errors (draws x points) given each draw's noise variances
        (draws x points, or one row for all): every unit's own normal noise, carried
        through the fit."""
        unit_sd = np.sqrt(variances @ self._owner.T)
        if unit_sd.ndim == 1:
            normal = rng.standard_normal((draws, len(unit_sd)), dtype=np.float32)
            return normal @ (self._unit_weights * unit_sd).T.astype(np.float32)
        return (unit_sd * rng.standard_normal(unit_sd.shape)) @ self._unit_weights.T

    def variance_factors(self, rng: np.random.Generator, draws: int) -> np.ndarray:
        """Draws of s~_p^2 / sigma_p^2 (draws x points), as the estimate is built: the pool's
        chi-square, shared by every point, with weight lambda_p = d0 / (d0 + d_p), and the
        point's own with the rest, never below the pool's draw.  (Independent draws per point made the constants too
        small where the pool dominates: a 4-method compare's false verdicts came to 12.5 %.)"""
        shared = rng.chisquare(self.df, (draws, 1)) / self.df
        if self.pooled:
            return np.repeat(shared, len(self.points), axis=1)
        own = self._own * rng.chisquare(self._own_df, (draws, len(self.points))) / self._own_df
        pool = self._pooled * shared
        return np.maximum(self._pool_share * pool + (1 - self._pool_share) * own, pool) / self.variances

    def shrunk_means(self) -> tuple[np.ndarray, np.ndarray]:
        """The means shrunk towards their average as far as their spread beyond their noise
        says (a normal prior on the mu_p, fitted by moments), and each one's kept share."""
        centre = self._means
        se2 = self.mean_weights @ self.variances
        spread = float(np.var(centre, ddof=1)) if len(centre) > 1 else 0.0
        tau2 = max(spread - float(np.mean(se2)), 0.0)
        keep = tau2 / (tau2 + se2) if tau2 > 0 else np.zeros_like(se2)
        grand = float(np.mean(centre))
        return grand + keep * (centre - grand), keep

    def error_draws(self, names: list, seed: int, draws: int) -> np.ndarray | None:
        """Draws of `names`' mean errors (draws x names) from the fit's noise, seeded by
        `seed`; None without a noise estimate."""
        if not self.noise.known:
            return None
        errors = self.errors(np.random.default_rng(seed), self.variances, draws)
        return errors[:, [self.points.index(n) for n in names]]

    def shrunk_means_of(self, names: list) -> list[float]:
        """`names`' shrunk means (`shrunk_means`), in that order."""
        shrunk, _ = self.shrunk_means()
        return [float(shrunk[self.points.index(n)]) for n in names]

    def posterior_draws(self, resamples: int, seed: int) -> np.ndarray:
        """The means drawn from their posterior (resamples x points): each draw's noise
        variances from their scaled inverse chi-square (s~^2 and its df), the means from a
        normal around the shrunk means (`shrunk_means`) with the posterior's narrower spread."""
        rng = np.random.default_rng(seed)
        if not self.known:
            return np.tile(self._means, (resamples, 1))
        shrunk, _ = self.shrunk_means()
        variances = self.variances / self.variance_factors(rng, resamples)
        return shrunk + self.errors(rng, variances, resamples)


def t_quantile(p: float, df):
    """The p-quantile of Student's t (scipy) for a df or an array of them; infinite df
    gives the normal's."""
    return stats.t.ppf(p, df) if np.ndim(df) else float(stats.t.ppf(p, df))
