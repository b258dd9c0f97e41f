"""Simultaneous statements: the constants that make a family of intervals keep its word.

A search prints many comparisons at once (every point against the best, every method
against compound, every point against the phi = 1 winner).  Each at its own `confidence`
would be wrong somewhere most of the time.  Two families, each with its constant drawn by
Monte Carlo from the fit's own model (stats/twoway.py: the means' errors carried from
every unit's noise, each point's variance estimate drawn with its degrees of freedom), so
unbalanced designs and unequal noise are handled and nothing is read off a table:

- **MCB, multiple comparisons with the best** (Hsu, "Multiple Comparisons", 1996, ch. 4):
  point j stays a contender while x_j >= x_i - d_j * se_ij for every other i, d_j the
  `confidence` quantile of max_i (e_i - e_j) / se_ij.  Whatever the true means, the true
  best is in the set with probability >= `confidence`: it is cut only when some point
  beats it by more than d_j standard errors, and the truth's own gap can only help it.
- **Dunnett, many to one** (Dunnett, JASA 1955): every other point against one control
  fixed before the data, x_j - x_c +/- d * se_jc, d the `confidence` quantile of
  max_j |e_j - e_c| / se_jc: every interval covers its truth at once with probability
  >= `confidence`.

In a balanced design with one pooled variance both are Dunnett's one- / two-sided
constants (tests/test_search.py checks 11 comparisons, df 22 against scipy's
multivariate t).  Draws are seeded from the data (`_fingerprint`): the same data give the
same statement.
"""

from __future__ import annotations

import zlib
from typing import Hashable, Sequence

import numpy as np

from scalesearch.stats.twoway import TwoWay

DRAWS = 4000  # Monte Carlo draws per constant: a 90 % quantile to about +/- 0.05
# Dunnett's constant is drawn once per compare target or transfer: it can afford +/- 0.02.
# (Racing draws MCB's after every unit, hence the smaller DRAWS there.)
ONCE_DRAWS = 20000


def studentized(fit: TwoWay, draws: int = DRAWS, seed: int = 0, columns=None) -> np.ndarray:
    """Draws of (e_i - e_j) / se_ij under the fit's model (draws x points x columns), where
    e are the means' errors and se_ij is what the fit would estimate from that draw's
    variances; j runs over `columns` (indices; default every point), and i = j is 0.
    The draws do not depend on `columns`."""
    rng = np.random.default_rng([seed, _fingerprint(fit)])
    factors = fit.variance_factors(rng, draws)
    errors = fit.errors(rng, fit.variances, draws).astype(np.float32)
    estimated = (fit.variances * factors).astype(np.float32)
    P = len(fit.points)
    js = np.arange(P) if columns is None else np.asarray(columns, dtype=int)
    weights = fit.pair_weights[:, js, :].astype(np.float32)
    # A point against itself: gap 0 over a unit se gives 0, which never moves a quantile at
    # confidence >= 0.5 of a maximum over the others (that quantile is >= 0).
    weights[js, np.arange(len(js)), :] = 1.0
    # float32, and a product by 1/se: a 4000 x 12 x 12 tensor per ranking, and racing ranks
    # after every unit.
    inverse = 1.0 / np.sqrt(estimated @ weights.reshape(P * len(js), P).T).reshape(draws, P, len(js))
    return (errors[:, :, None] - errors[:, None, js]) * inverse


def _fingerprint(fit: TwoWay) -> int:
    """The draws' seed from the data: the same data give the same statement, while the
    constant's Monte Carlo error (about +/- 0.05 at 4,000 draws) differs from one data set
    to the next instead of biasing every run alike -- with one fixed stream a 4-method
    compare's constant came out 0.1 low and its false verdicts at 12.5 % for 10 %."""
    return zlib.crc32(np.ascontiguousarray(np.round(fit.means(), 12)).tobytes()
                      + np.ascontiguousarray(np.round(fit.variances, 15)).tobytes())


def mcb_constants(fit: TwoWay, confidence: float, draws: int = DRAWS, seed: int = 0, columns=None) -> np.ndarray:
    """d_j for every point j in `columns` (default all, in `fit.points` order): the
    `confidence` quantile of max_i (e_i - e_j) / se_ij, the margin by which j may trail
    any point and stay."""
    t = studentized(fit, draws, seed, columns)
    return np.quantile(t.max(axis=1), confidence, axis=0)


def bonferroni_bound(fit: TwoWay, confidence: float) -> float:
    """An upper bound on every MCB constant: Student's t at (1 - confidence) / (P - 1) on
    the fewest degrees of freedom any point's variance has (a studentized difference with
    independent variance estimates has no heavier tail than t on their least df)."""
    from scipy import stats

    df = float(fit.df) if fit.pooled else float(np.min(fit.variance_df))
    return float(stats.t.ppf(1 - (1 - confidence) / max(1, len(fit.points) - 1), df))


def contenders(fit: TwoWay, confidence: float, draws: int = DRAWS, seed: int = 0,
               every: bool = True) -> tuple[list[Hashable], dict]:
    """The MCB confidence set for the best (module docstring), in `fit.points` order, and
    each point's constant d_j.  With `every` False only the constants the set needs are
    drawn (a point ahead of all is in whatever d is, one behind by more than
    `bonferroni_bound` out): the same set, sooner -- racing asks after every unit."""
    means = fit.means()
    se = np.sqrt(np.einsum("ijp,p->ij", fit.pair_weights, fit.variances))
    gap = means[:, None] - means[None, :]  # gap[i, j] = x_i - x_j
    with np.errstate(divide="ignore", invalid="ignore"):
        behind = np.where(se > 0, gap / se, np.where(gap > 0, np.inf, 0.0))
    np.fill_diagonal(behind, -np.inf)
    worst = behind.max(axis=0)  # how far j trails its most ahead rival, in its se
    d = np.full(len(fit.points), np.nan)
    if every:
        needed = np.arange(len(fit.points))
    else:
        needed = np.flatnonzero((worst > 0) & (worst <= bonferroni_bound(fit, confidence)))
    if len(needed):
        d[needed] = mcb_constants(fit, confidence, draws, seed, needed)
    kept = (worst <= 0) | (worst <= np.nan_to_num(d, nan=-np.inf))
    return [p for p, k in zip(fit.points, kept) if k], dict(zip(fit.points, d.tolist()))


def dunnett_constant(fit: TwoWay, control: Hashable, others: Sequence[Hashable], confidence: float,
                     draws: int = DRAWS, seed: int = 0) -> float:
    """Two-sided many-to-one constant: the `confidence` quantile of max_j |e_j - e_c| / se_jc."""
    index = {p: i for i, p in enumerate(fit.points)}
    c, js = index[control], [index[o] for o in others]
    t = studentized(fit, draws, seed)[:, js, c]
    return float(np.quantile(np.abs(t).max(axis=1), confidence))
