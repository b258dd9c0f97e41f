"""The statistics every printed decision rests on: moderated variances, MCB, Dunnett, racing's gate.

Each test here failed on the statistics before issue 24 (per-pair t-tests against the
leader, one pooled variance, racing free to stop on one second seed); the error rates
themselves are measured by benchmarks/calibration.py.
"""

import math

import numpy as np
import pytest

from scalesearch.stats import ranking
from scalesearch.stats.ranking import (MIN_DF, difference, interim_confidence, noise_sample, racing_needs, rank,
                                        versus_control)
from scalesearch.stats.simultaneous import bonferroni_bound, mcb_constants
from scalesearch.stats.twoway import TwoWay


def grid(means, sds, seeds=3, rng=None, shared_sd=0.01):
    """point -> seed -> accuracy: means + a shared seed effect + each point's own noise."""
    rng = rng or np.random.default_rng(0)
    shared = rng.normal(0, shared_sd, seeds)
    return {p: {s: float(means[p] + shared[s] + rng.normal(0, sds[p])) for s in range(seeds)}
            for p in range(len(means))}


# -- racing may not decide before the noise is measured ----------------------------------------

def test_a_decision_cannot_come_before_the_noise_sample_is_complete():
    firsts = {name: {0: 0.9 - 0.01 * i} for i, name in enumerate("abcdefghij")}
    firsts["a"][0] = 0.99  # far ahead on its first draw
    obs = {k: dict(v) for k, v in firsts.items()}
    obs["a"][1], obs["b"][1] = 0.9901, 0.8801  # two second seeds agree to 0.01 %: 1 df of tiny noise
    ranking = rank(obs)
    assert ranking.noise.df == 1 and not ranking.decided  # the old code decided here
    assert racing_needs(obs, ranking, max_seeds=3) == [("c", 1), ("g", 1), ("j", 1)]
    ranking.decided = True  # whatever a ranking says, the sample comes first
    assert racing_needs(obs, ranking, max_seeds=3) == [("c", 1), ("g", 1), ("j", 1)]


def test_no_decision_under_four_residual_degrees_of_freedom():
    obs = {"a": {0: 0.90, 1: 0.901}, "b": {0: 0.70, 1: 0.702}, "c": {0: 0.60, 1: 0.599}}
    ranking = rank(obs)
    assert ranking.noise.df == 2 < MIN_DF and ranking.contenders == ["a"] and not ranking.decided
    assert racing_needs(obs, ranking, max_seeds=3) == [("a", 2)]  # the leader alone: one more seed
    obs = {p: {**s, 2: s[0] + 0.0005} for p, s in obs.items()}
    assert rank(obs).noise.df == 4 and rank(obs).decided


# -- racing's tests spend a share of the error, once per seed ------------------------------------

def twelve_after_the_noise_sample(d):
    """12 points a..l: first seeds, a second seed for the noise sample (a, b, c, h, l), and
    non-sample point d's first seed at `d`."""
    firsts = [0.80, 0.79, 0.78, d, 0.74, 0.735, 0.73, 0.725, 0.72, 0.715, 0.71, 0.70]
    obs = {p: {0: v} for p, v in zip("abcdefghijkl", firsts)}
    for p, v in {"a": 0.81, "b": 0.782, "c": 0.786, "h": 0.715, "l": 0.712}.items():
        obs[p][1] = v
    assert noise_sample(obs) == ["a", "b", "c", "h", "l"]
    return obs


def test_a_point_separated_only_at_the_nominal_level_stays_in_the_race():
    # d trails by more than its 90 % MCB margin but less than the 98 % one racing tests at:
    # the earlier rule stopped seeding it here, one of up to 19 such looks per point.
    obs = twelve_after_the_noise_sample(0.765)
    nominal = rank(obs, 0.9, resamples=0)
    assert "d" not in nominal.contenders and "d" in rank(obs, interim_confidence(0.9, 3), resamples=0).contenders
    assert racing_needs(obs, nominal, max_seeds=3)[0] == ("d", 1)


def test_a_decision_at_the_nominal_level_alone_does_not_end_the_race():
    obs = {"b": {0: 0.70, 1: 0.705}, "c": {0: 0.69, 1: 0.70}, "d": {0: 0.695, 1: 0.688}, "e": {0: 0.685, 1: 0.69},
           "a": {0: 0.714, 1: 0.722}}
    nominal = rank(obs, 0.9, resamples=0)
    assert nominal.decided and nominal.noise.df == MIN_DF  # the earlier rule stopped here
    assert not rank(obs, interim_confidence(0.9, 3), resamples=0).decided
    assert racing_needs(obs, nominal, max_seeds=3) == [("b", 2), ("a", 2)]  # the rival first, the leader last


def test_a_point_that_left_the_race_is_not_seeded_again_but_may_end_a_contender():
    obs = twelve_after_the_noise_sample(0.755)  # d fails its one test before its second seed
    assert racing_needs(obs, rank(obs), max_seeds=3) == [("b", 2), ("c", 2), ("a", 2)]  # every 1-seed point left
    obs["a"][2], obs["b"][2], obs["c"][2] = 0.70, 0.76, 0.76  # the leader falls back, 10 points
    assert rank(obs).details["stragglers"] == {"a": [2]}  # ... far below its others: set aside,
    assert racing_needs(obs, rank(obs), max_seeds=3) == [("a", 3)]  # and a trained once more
    obs["a"][3] = 0.70  # the retrain falls as far: two of four agree, no straggler, a real fall
    assert rank(obs).details["stragglers"] == {}
    assert racing_needs(obs, rank(obs), max_seeds=3) == []  # d's turn was taken, on the data of then: race over
    final = rank(obs, 0.9)
    assert "d" in final.contenders  # the final set is rank over all data: a left point can come back there


def test_racing_spends_a_bonferroni_share_of_the_error_over_a_points_tests():
    for seeds in (2, 3, 5):
        per_test = 1 - interim_confidence(0.9, seeds)
        assert per_test * (seeds - 1) == pytest.approx(ranking.INTERIM_SHARE * 0.1)  # <= alpha in all
    assert interim_confidence(0.9, 3) == pytest.approx(0.98)
    assert racing_needs({"a": {0: 0.8}, "b": {0: 0.7}}, rank({"a": {0: 0.8}, "b": {0: 0.7}}), max_seeds=1) == []


# -- the MCB constant ---------------------------------------------------------------------------

def test_mcb_constant_matches_dunnetts_one_sided_table_in_a_balanced_design():
    # 12 points x 3 seeds, one pooled variance: 12 - 1 = 11 comparisons with the best on
    # 36 - 12 - 3 + 1 = 22 df.  Dunnett's one-sided constant there at 90 % is 2.28 (Dunnett,
    # JASA 1955 tables; 2.283 from scipy.stats.multivariate_t with correlation 0.5).
    fit = TwoWay(grid([0.8] * 12, [0.015] * 12), prior=math.inf)
    assert fit.df == 22 and fit.pooled
    d = mcb_constants(fit, 0.9, draws=20000)
    assert d == pytest.approx(np.full(12, 2.283), abs=0.04)  # Monte Carlo error ~0.015 at 20,000 draws
    assert (d < bonferroni_bound(fit, 0.9)).all()


def test_a_heteroscedastic_grid_keeps_its_tied_wide_point_among_the_contenders():
    # 4 steady points (sd 1 point) and 8 wide ones (3.5 points); wide point 4 is tied for best
    # with steady point 0.  One pooled variance cut it in 31 % of such grids.
    means = [0.80, 0.77, 0.77, 0.77, 0.80] + [0.77] * 7
    sds = [0.01] * 4 + [0.035] * 8
    rng = np.random.default_rng(7)
    cut = sum(4 not in rank(grid(means, sds, rng=rng), resamples=0).contenders for _ in range(40))
    assert cut <= 3  # nominal 10 %; measured 1.7 % over 1,000 grids (benchmarks/calibration.py)


def test_moderated_variances_follow_each_point_and_fall_back_on_the_pool():
    fit = TwoWay(grid([0.8] * 12, [0.002] * 4 + [0.04] * 8, seeds=6))
    assert math.isfinite(fit.prior_df) and not fit.pooled
    pooled = fit.noise.sd ** 2
    variance = dict(zip(fit.points, fit.variances))
    steady, wide = [variance[p] for p in range(4)], [variance[p] for p in range(4, 12)]
    assert max(steady) == pytest.approx(pooled) and np.mean(wide) > pooled  # wide widened; none below the pool
    one_seed = TwoWay({**{p: s for p, s in grid([0.8] * 6, [0.01] * 6).items()}, "new": {0: 0.8}})
    assert one_seed.variances[one_seed.points.index("new")] == pytest.approx(one_seed.noise.sd ** 2)


def test_the_quick_look_racing_takes_gives_the_same_set():
    rng = np.random.default_rng(3)
    for _ in range(5):
        obs = grid(list(0.8 - 0.01 * rng.random(12)), [0.015] * 12, rng=rng)
        assert rank(obs, resamples=0).contenders == rank(obs, resamples=200).contenders


# -- many to one: compare's and transfer's intervals ---------------------------------------------

def test_many_to_one_intervals_are_simultaneous_dunnett_not_per_pair():
    obs = grid([0.8] * 5, [0.015] * 5, seeds=4)
    fit = TwoWay(obs, prior=math.inf)
    against = versus_control(fit, 0, 0.9, draws=20000)
    alone = difference(fit, 0, 3, 0.9)
    d = (against[3].high - against[3].low) / (alone.high - alone.low)
    # 4 comparisons on 12 df, two-sided 90 %: Dunnett's 2.41 (scipy.stats.multivariate_t,
    # correlation 0.5) against Student's 1.78.
    assert d == pytest.approx(2.41 / 1.782, abs=0.03)
    assert all(a.simultaneous for a in against.values())


# -- p_best ----------------------------------------------------------------------------------------

def test_p_best_is_a_posterior_share_that_does_not_crown_a_point_among_equals():
    ranking = rank(grid([0.8] * 6, [0.015] * 6, rng=np.random.default_rng(1)))
    shares = [p.p_best for p in ranking.points]
    assert math.isclose(sum(shares), 1.0) and max(shares) < 0.5


def test_without_a_noise_estimate_p_best_is_missing_not_a_certainty():
    """One seed per point: no model to draw from; the leader used to get p_best 1.00."""
    ranking = rank({p: {0: 0.8 + 0.01 * p} for p in range(4)})
    assert not ranking.noise.known
    assert all(math.isnan(p.p_best) for p in ranking.points)


# -- the calibration benchmark replays racing as search_cost does ----------------------------------

def _benchmark(name):
    import importlib.util
    import sys
    from pathlib import Path

    folder = Path(__file__).parents[1] / "benchmarks"
    sys.path.insert(0, str(folder))
    try:
        spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(folder))
    return module


def test_the_calibration_race_trains_the_units_search_cost_race_does():
    calibration, search_cost = _benchmark("calibration"), _benchmark("search_cost")
    rng = np.random.default_rng(11)
    for means in ([0.8] * 12, [0.845] + [0.8] * 11):
        table = calibration.table(rng, means, [0.015] * 12)
        slow, fast = search_cost.race(table, 0.9, 3), calibration.race(table, 0.9, 3)
        assert slow[0] == fast[0] and slow[1].contenders == fast[1].contenders
        assert [(p.point, p.seeds) for p in slow[1].points] == [(p.point, p.seeds) for p in fast[1].points]


def test_the_design_says_what_gap_it_resolves_and_what_a_point_would_need():
    """sigma 1.5 points, 3 seeds: the smallest separated gap is d * sigma * sqrt(2/3), and
    a 1-point gap needs 2 (d sigma / 1 point)^2 seeds a point -- more seeds, a smaller gap."""
    from scalesearch.stats.ranking import resolvable_gap
    ranking = rank(grid([0.8] * 6, [0.015] * 6, rng=np.random.default_rng(3)))
    r = resolvable_gap(ranking, 3)
    d, sigma = r["constant"], ranking.noise.sd
    assert 1.5 < d < 4 and r["gap"] == pytest.approx(d * sigma * math.sqrt(2 / 3))
    assert r["seeds_for_gap"] == math.ceil(2 * (d * sigma / 0.01) ** 2) > 3
    assert resolvable_gap(ranking, 12)["gap"] == pytest.approx(r["gap"] / 2)
    assert resolvable_gap(rank({p: {0: 0.8} for p in range(3)}), 1) is None  # no noise estimate
