"""Do two rankings of the same points agree, and how sure: Kendall's tau with its spread.

`transfer` ranks the same coefficients twice, at phi = 1 (the grid) and at a larger phi.
Kendall's tau-b counts, over every pair of points, whether the two rankings order the
pair the same way (+1), the opposite way (-1) or tie it: tau = 1 is the same order,
-1 the reverse, 0 no relation.

Each ranking is a set of means over a few seeds, so tau itself is noisy.  Its spread
comes from resampling both sides: each resample draws every point's mean from its
least-squares fit (`TwoWay.draws`: the means' joint normal, seed effects and pooled
noise included), pairs the i-th draw of one side with the i-th of the other, and
computes tau.  The central `confidence` range of those taus says how far the seed noise
alone moves tau.  It is not a test against other baselines, data or budgets, and it is
centred on the resampled means, which noise pulls towards tau = 0: a wide range
reaching 0 means the data cannot tell agreement from chance.

Everything here is pure: numbers in, numbers out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b of paired scores (ties allowed on either side); NaN with fewer
    than two points or a side whose scores are all equal."""
    if len(a) != len(b):
        raise ValueError(f"kendall_tau needs paired scores, got {len(a)} and {len(b)}")
    taus = _taus([list(a)], [list(b)])
    return float(taus[0]) if len(taus) else math.nan


def _taus(a, b):
    """tau-b of row i of `a` against row i of `b` (resamples x points), vectorised over pairs."""
    import numpy as np

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n = a.shape[1]
    if n < 2:
        return np.full(a.shape[0], math.nan)
    i, j = np.triu_indices(n, k=1)
    sa, sb = np.sign(a[:, i] - a[:, j]), np.sign(b[:, i] - b[:, j])
    untied_a, untied_b = (sa != 0).sum(axis=1), (sb != 0).sum(axis=1)
    denominator = np.sqrt(untied_a * untied_b.astype(float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (sa * sb).sum(axis=1) / denominator, math.nan)


@dataclass(frozen=True)
class RankAgreement:
    """tau between two rankings of `points` shared points, and its resampled range."""

    tau: float  # from the means themselves
    low: float  # central `confidence` range of tau over resamples; NaN without a noise estimate
    high: float
    points: int
    resamples: int
    confidence: float
    share_positive: float  # resamples with tau > 0 (NaN without a noise estimate)

    @property
    def known(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rank_agreement(means_a: Sequence[float], means_b: Sequence[float], draws_a=None, draws_b=None,
                   confidence: float = 0.9) -> RankAgreement:
    """tau of the means and, given both sides' resampled means (resamples x points, the
    columns in the means' order), the central `confidence` range of the resampled taus.
    A side without a noise estimate passes None: the range is then unknown (NaN), since
    resampling one side only would understate it."""
    import numpy as np

    tau = kendall_tau(means_a, means_b)
    if draws_a is None or draws_b is None or len(means_a) < 2:
        return RankAgreement(tau, math.nan, math.nan, len(means_a), 0, confidence, math.nan)
    resamples = min(len(draws_a), len(draws_b))
    taus = _taus(np.asarray(draws_a)[:resamples], np.asarray(draws_b)[:resamples])
    taus = taus[np.isfinite(taus)]
    if not len(taus):
        return RankAgreement(tau, math.nan, math.nan, len(means_a), 0, confidence, math.nan)
    tail = (1 - confidence) / 2
    low, high = np.quantile(taus, [tail, 1 - tail])
    return RankAgreement(tau, float(low), float(high), len(means_a), int(len(taus)), confidence,
                         float((taus > 0).mean()))
