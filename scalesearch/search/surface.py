"""A smooth answer when there is no sharp one: the accuracy surface of a 2-D grid.

With alpha solved from (beta, gamma), a 2-D grid samples an accuracy surface over two
numbers.  A weighted quadratic in (log beta, log gamma), fitted to every point's mean
(weights = its seeds), smooths the seed noise of single points; its argmax inside the
grid's range (on the law: alpha = target / (beta^2 gamma^2) >= 1) is a candidate answer
between the grid's points.  Whether to trust it is measured, not assumed: the
leave-one-out error of the fit (each point predicted by a fit without it) is compared
with the noise of one point's mean; a fit that predicts held-out points worse than the
noise does not describe the surface, and is not recommended.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

TERMS = 6  # 1, x, y, x^2, xy, y^2


@dataclass(frozen=True)
class SurfaceFit:
    beta: float
    gamma: float
    alpha: float
    predicted: float  # validation accuracy the fit expects there
    loo_rmse: float  # leave-one-out error of the fit over the grid's points
    noise: float  # sd of one point's mean (pooled training noise / sqrt(mean seeds))
    points: int
    recommended: bool
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _design(beta: float, gamma: float) -> list[float]:
    x, y = math.log(beta), math.log(gamma)
    return [1.0, x, y, x * x, x * y, y * y]


def _fit(rows: list[tuple[float, float, float, float]]):
    import numpy as np

    x = np.array([_design(b, g) for b, g, _, _ in rows])
    y = np.array([acc for _, _, acc, _ in rows])
    w = np.sqrt(np.array([weight for _, _, _, weight in rows]))
    coef, *_ = np.linalg.lstsq(x * w[:, None], y * w, rcond=None)
    return coef


def fit_surface(points: list[tuple[float, float, float, int]], target: float, high: float,
                noise_sd: float, step: float = 0.005) -> SurfaceFit | None:
    """Fit (beta, gamma, mean accuracy, seeds) rows; None with fewer points than terms + 1."""
    import numpy as np

    if len(points) < TERMS + 1:
        return None
    rows = [(b, g, acc, float(n)) for b, g, acc, n in points]
    coef = _fit(rows)
    errors = []
    for i, (b, g, acc, _) in enumerate(rows):
        held = _fit(rows[:i] + rows[i + 1:])
        errors.append(float(np.dot(held, _design(b, g))) - acc)
    loo = math.sqrt(sum(e * e for e in errors) / len(errors))
    best = (-math.inf, 1.0, 1.0)
    count = int(round((high - 1.0) / step))
    for i in range(count + 1):
        for j in range(count + 1):
            b, g = 1.0 + i * step, 1.0 + j * step
            if target / (b * b * g * g) < 1 - 1e-9:
                continue
            value = float(np.dot(coef, _design(b, g)))
            if value > best[0]:
                best = (value, b, g)
    predicted, beta, gamma = best
    seeds = sum(n for *_, n in rows) / len(rows)
    noise = noise_sd / math.sqrt(seeds) if math.isfinite(noise_sd) else math.nan
    if not math.isfinite(noise):
        ok, reason = False, "no noise estimate to judge the fit against (train more seeds)"
    elif loo > noise:
        ok, reason = False, (f"its leave-one-out error ({loo:.2%}) is above the noise of one point's "
                             f"mean ({noise:.2%}): the quadratic does not describe this surface")
    else:
        ok, reason = True, (f"its leave-one-out error ({loo:.2%}) is within the noise of one point's "
                            f"mean ({noise:.2%})")
    return SurfaceFit(round(beta, 4), round(gamma, 4), round(target / (beta * beta * gamma * gamma), 4),
                      predicted, loo, noise, len(rows), ok, reason)
