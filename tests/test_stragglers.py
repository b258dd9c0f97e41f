"""A unit far below its point's other seeds is set aside, its point trained once more (stats/stragglers.py)."""

from __future__ import annotations

import numpy as np

from scalesearch.stats.ranking import rank
from scalesearch.stats.stragglers import retrains, screen, stragglers


def grid(means, sds, seeds=3, seed=0, shared_sd=0.01):
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, shared_sd, seeds)
    return {p: {s: float(means[p] + shared[s] + rng.normal(0, sds[p])) for s in range(seeds)}
            for p in range(len(means))}


def test_a_ten_point_drop_among_steady_seeds_is_set_aside_and_not_averaged_in():
    obs = grid([0.80] * 12, [0.015] * 12)
    obs[4][1] -= 0.12
    assert stragglers(obs) == {4: [1]}
    ranked = rank(obs, 0.9, resamples=0)
    assert ranked.get(4).seeds == 2 and ranked.get(4).set_aside == 1
    assert abs(ranked.get(4).mean - np.mean([obs[4][0], obs[4][2]])) < 0.01  # the drop is not in its mean
    assert ranked.noise.sd < 0.025  # nor in everyone's noise (0.05 with it averaged in)
    assert retrains(obs, 3) == [(4, 3)]  # one more seed, the next index
    obs[4][3] = 0.80
    assert retrains(obs, 3) == []  # once


def test_no_straggler_on_clean_grids_nor_on_a_point_whose_trainings_all_scatter():
    flagged = sum(bool(stragglers(grid([0.8] * 12, [0.015] * 12, seed=k))) for k in range(400))
    assert flagged <= 40  # clean noise: a unit now and then (measured: 5 % of grids)
    wide = sum(5 in stragglers(grid([0.8] * 6, [0.015] * 5 + [0.045], seed=k)) for k in range(400))
    assert wide <= 100  # 3x the others' noise: its low draws are mostly kept (measured 16 %; 32 % with
    # the pool's scale alone)


def test_a_retrain_that_falls_as_far_makes_both_count():
    obs = grid([0.80] * 12, [0.015] * 12)
    obs[7][1] -= 0.15
    assert stragglers(obs) == {7: [1]} and retrains(obs, 3) == [(7, 3)]
    obs[7][3] = obs[7][1] + 0.005  # the retrain falls too: the two agree, the point does fall
    assert stragglers(obs) == {} and retrains(obs, 3) == []
    assert rank(obs, 0.9, resamples=0).get(7).seeds == 4


def test_too_few_units_set_nothing_aside():
    assert stragglers({0: {0: 0.8, 1: 0.5}, 1: {0: 0.8}}) == {}
    assert stragglers({p: {0: 0.8, 1: 0.8} for p in range(3)}) == {}  # no spread, MIN_DROP: nothing
