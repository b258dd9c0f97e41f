"""A smooth answer when there is no sharp one: the accuracy surface of a 2-D grid.

With alpha solved from (beta, gamma), a 2-D grid samples an accuracy surface over two
numbers.  A weighted quadratic in (log beta, log gamma), fitted to every point's mean
(weights = its seeds), smooths the seed noise of single points; its argmax inside the
grid's range (on the law: alpha = target / (beta^2 gamma^2) >= 1) is a candidate answer
between the grid's points.

Whether to trust it is tested, three ways, all at the run's `confidence` and all needed:

1. **No lack of fit.**  PRESS (the leave-one-out errors' sum of squares) against what it
   would be if the quadratic were true and the noise the grid's measured noise: each
   held-out error is e_i / (1 - h_ii), so E[PRESS] = sigma^2 sum 1 / (1 - h_ii) -- on 12
   points the leverage reaches 0.84, so a raw leave-one-out error is ~2.8x one point's
   noise even for an exact quadratic, and comparing it with the noise (the old test)
   rejected true quadratics as often as it passed flat noise.  The null distribution
   (a weighted chi-square over the noise estimate's chi-square) is simulated.
2. **A real maximum.**  The curvature is negative-definite in at least `confidence` of
   parametric draws of the coefficients (their covariance from the noise, its df), and the
   fitted peak is a stationary point inside the range: a flat or saddle surface, or one
   still rising at the edge, has no argmax to recommend.
3. **Where.**  The central `confidence` range of the argmax over those draws is reported
   (`beta_range`, `gamma_range`) beside the point estimate.

Pure: rows in, a SurfaceFit out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

TERMS = 6  # 1, x, y, x^2, xy, y^2
DRAWS = 2000  # Monte Carlo draws for the lack-of-fit null and the coefficient bootstrap
REGION_STEP = 0.02  # grid step of the bootstrap's argmax search (the estimate uses `step`)


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
    press_ratio: float = math.nan  # PRESS / its expectation under a true quadratic
    lack_of_fit_p: float = math.nan  # share of null draws with a PRESS ratio at least this
    negative_definite: float = math.nan  # share of coefficient draws with a maximum
    beta_range: tuple[float, float] = field(default=(math.nan, math.nan))  # argmax region
    gamma_range: tuple[float, float] = field(default=(math.nan, math.nan))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _design(beta, gamma) -> np.ndarray:
    x, y = np.log(beta), np.log(gamma)
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def _domain(target: float, high: float, step: float) -> np.ndarray:
    """Every (beta, gamma) on a `step` grid from 1 to `high` (below 1 for a down-scaling
    grid, whose bound is its low) with alpha on the law's side of 1 (>= 1 up, in [high, 1] down)."""
    count = int(round(abs(high - 1.0) / step))
    values = 1.0 + math.copysign(step, high - 1.0) * np.arange(count + 1)
    b, g = np.meshgrid(values, values, indexing="ij")
    alpha = target / (b * b * g * g)
    keep = (alpha >= 1 - 1e-9) if high >= 1 else ((alpha <= 1 + 1e-9) & (alpha >= high - 1e-9))
    return np.stack([b[keep], g[keep]], axis=1)


def _in_range(beta: float, gamma: float, target: float, high: float) -> bool:
    """(beta, gamma) inside the grid's range with alpha on the law's side of 1."""
    low, top = sorted((1.0, high))
    alpha = target / (beta * beta * gamma * gamma)
    return (low <= beta <= top and low <= gamma <= top
            and (alpha >= 1 if high >= 1 else low <= alpha <= 1))


def _stationary(coef: np.ndarray) -> tuple[np.ndarray, bool]:
    """(the stationary point in log space, whether the curvature there is negative-definite)."""
    hessian = np.array([[2 * coef[3], coef[4]], [coef[4], 2 * coef[5]]])
    negative = bool(np.all(np.linalg.eigvalsh(hessian) < 0))
    try:
        return np.linalg.solve(hessian, -coef[1:3]), negative
    except np.linalg.LinAlgError:
        return np.array([math.nan, math.nan]), negative


def fit_surface(points: list[tuple[float, float, float, int]], target: float, high: float,
                noise_sd: float, step: float = 0.005, noise_df: float = math.inf, confidence: float = 0.9,
                seed: int = 0) -> SurfaceFit | None:
    """Fit (beta, gamma, mean accuracy, seeds) rows; None with fewer points than terms + 1.
    `noise_sd` is one training's noise, estimated on `noise_df` degrees of freedom."""
    if len(points) < TERMS + 1:
        return None
    rows = np.array([(b, g, acc, float(n)) for b, g, acc, n in points], dtype=float)
    w = np.sqrt(rows[:, 3])
    x = _design(rows[:, 0], rows[:, 1]) * w[:, None]
    y = rows[:, 2] * w  # weighted: every row's noise is one training's
    inverse = np.linalg.pinv(x.T @ x)
    coef = inverse @ x.T @ y
    hat = x @ inverse @ x.T
    leverage = np.clip(np.diag(hat), 0, 1 - 1e-9)
    residual = y - x @ coef
    held = residual / (1 - leverage)
    loo = float(np.sqrt(np.mean((held / w) ** 2)))
    domain = _domain(target, high, step)
    values = _design(domain[:, 0], domain[:, 1]) @ coef
    beta, gamma = domain[int(np.argmax(values))]
    predicted = float(values.max())
    seeds = float(rows[:, 3].mean())
    noise = noise_sd / math.sqrt(seeds) if math.isfinite(noise_sd) else math.nan
    base = dict(beta=round(float(beta), 4), gamma=round(float(gamma), 4),
                alpha=round(float(target / (beta * beta * gamma * gamma)), 4), predicted=predicted, loo_rmse=loo,
                noise=noise, points=len(rows))
    if not math.isfinite(noise_sd) or noise_sd <= 0:
        return SurfaceFit(**base, recommended=False,
                          reason="no noise estimate to judge the fit against (train more seeds)")
    rng = np.random.default_rng(seed)
    sigma2 = noise_sd ** 2
    scale = (rng.chisquare(noise_df, DRAWS) / noise_df) if math.isfinite(noise_df) else np.ones(DRAWS)
    # 1. PRESS against a true quadratic's: e_(i) = [(I - H) eps]_i / (1 - h_ii).
    expected = sigma2 * float(np.sum(1 / (1 - leverage)))
    ratio = float(held @ held) / expected
    null = (rng.standard_normal((DRAWS, len(rows))) @ (np.eye(len(rows)) - hat).T) / (1 - leverage)
    null_ratio = (null ** 2).sum(axis=1) / float(np.sum(1 / (1 - leverage))) / scale
    lack_p = float((null_ratio >= ratio).mean())
    # 2. Is there a maximum, inside the range?  3. Where, give or take the noise.
    chol = np.linalg.cholesky(sigma2 * inverse + 1e-18 * np.eye(TERMS))
    draws = coef + (rng.standard_normal((DRAWS, TERMS)) @ chol.T) / np.sqrt(scale)[:, None]
    hessians = np.stack([2 * draws[:, 3], draws[:, 4], draws[:, 4], 2 * draws[:, 5]], axis=1).reshape(-1, 2, 2)
    negative = float((np.linalg.eigvalsh(hessians) < 0).all(axis=1).mean())
    coarse = _domain(target, high, REGION_STEP)
    peaks = coarse[np.argmax(draws @ _design(coarse[:, 0], coarse[:, 1]).T, axis=1)]
    tail = (1 - confidence) / 2
    beta_range = tuple(round(float(v), 4) for v in np.quantile(peaks[:, 0], [tail, 1 - tail]))
    gamma_range = tuple(round(float(v), 4) for v in np.quantile(peaks[:, 1], [tail, 1 - tail]))
    centre, _ = _stationary(coef)
    cb, cg = np.exp(centre) if np.all(np.isfinite(centre)) else (math.nan, math.nan)
    inside = math.isfinite(cb) and _in_range(cb, cg, target, high)
    alpha_level = 1 - confidence
    if lack_p < alpha_level:
        ok, reason = False, (f"its leave-one-out error is {ratio:.1f}x what an exact quadratic would give at "
                             f"this noise (lack of fit, p = {lack_p:.2f}): the quadratic does not describe this "
                             "surface")
    elif negative < confidence:
        ok, reason = False, (f"its curvature is negative-definite in only {negative:.0%} of draws (needs "
                             f"{confidence:.0%}): no maximum beyond noise, the surface may be flat")
    elif not inside:
        ok, reason = False, "its maximum lies outside the grid's range: the surface still rises at the edge"
    else:
        ok, reason = True, (f"it fits (PRESS {ratio:.1f}x an exact quadratic's, p = {lack_p:.2f}), its maximum "
                            f"is real ({negative:.0%} of draws curve down) and inside the range; the argmax is "
                            f"within β {beta_range[0]:g}-{beta_range[1]:g}, γ {gamma_range[0]:g}-{gamma_range[1]:g} "
                            f"({confidence:.0%})")
    return SurfaceFit(**base, recommended=ok, reason=reason, press_ratio=ratio, lack_of_fit_p=lack_p,
                      negative_definite=negative, beta_range=beta_range, gamma_range=gamma_range)
