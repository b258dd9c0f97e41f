"""Do two rankings of the same points agree: Kendall's tau beside what perfect transfer gives.

`transfer` ranks the same coefficients twice, at phi = 1 (the grid) and at a larger phi.
Kendall's tau-b counts, over every pair of points, whether the two rankings order the
pair the same way (+1), the opposite way (-1) or tie it: tau = 1 is the same order,
-1 the reverse, 0 no relation.

Each ranking is a set of means over a few seeds, so tau-hat is noisy, and noisy downwards:
points a fraction of a noise sd apart swap on either side even when the true order is the
same.  A range of resampled taus around tau-hat (what this module reported before) was
read as "the 90 % range of tau" and missed tau = 1 in two thirds of simulated perfect
transfers.  So tau-hat is set beside what *perfect transfer* would give at this noise and
size: both sides drawn around the same true means (phi = 1's, shrunk towards their
average as far as their spread beyond noise says), each with its own fit's noise, and tau
computed per draw.  Its central `confidence` range, and the share of those draws with a
tau at most tau-hat (small: the order changed beyond what noise does; large: these seeds
cannot tell a change from perfect transfer).  It is a reference, not a test; the verdict
on the phi = 1 winner (transfer.py, Dunnett) is the statement with an error rate.

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
    """tau-hat between two rankings of `points` shared points, and tau under perfect transfer."""

    tau: float  # from the means themselves
    low: float  # central `confidence` range of tau under perfect transfer; NaN without noise estimates
    high: float
    points: int
    resamples: int
    confidence: float
    share_at_most: float  # perfect-transfer draws with tau <= tau-hat (NaN without noise estimates)

    @property
    def known(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rank_agreement(means_a: Sequence[float], means_b: Sequence[float], truth: Sequence[float] | None = None,
                   errors_a=None, errors_b=None, confidence: float = 0.9) -> RankAgreement:
    """tau of the means and, given the true means perfect transfer would share (`truth`)
    and each side's draws of its means' errors (resamples x points, columns in the means'
    order), the range of tau under perfect transfer.  A side without a noise estimate
    passes None: the range is then unknown (NaN)."""
    import numpy as np

    tau = kendall_tau(means_a, means_b)
    if truth is None or errors_a is None or errors_b is None or len(means_a) < 2:
        return RankAgreement(tau, math.nan, math.nan, len(means_a), 0, confidence, math.nan)
    resamples = min(len(errors_a), len(errors_b))
    centre = np.asarray(truth, dtype=float)
    taus = _taus(centre + np.asarray(errors_a)[:resamples], centre + np.asarray(errors_b)[:resamples])
    taus = taus[np.isfinite(taus)]
    if not len(taus):
        return RankAgreement(tau, math.nan, math.nan, len(means_a), 0, confidence, math.nan)
    tail = (1 - confidence) / 2
    low, high = np.quantile(taus, [tail, 1 - tail])
    at_most = float((taus <= tau + 1e-12).mean()) if math.isfinite(tau) else math.nan
    return RankAgreement(tau, float(low), float(high), len(means_a), int(len(taus)), confidence, at_most)
