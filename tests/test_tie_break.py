"""A tie recommends one contender by a stated rule; a decision recommends its winner."""

import json

import pytest

from scalesearch.errors import UserError
from scalesearch.family import plan_family
from scalesearch.runs.grid_tables import add_recommendation, outcome, read_grid_choice
from scalesearch.stats.tie_break import check_tie_break, recommend
from scalesearch.spec.spaces import load_space
from tests.test_search import FakeTrainer, search


def _point(index, alpha, beta, gamma, mean, contender=True, **ratios):
    return {"index": index, "alpha": alpha, "beta": beta, "gamma": gamma, "mean": mean, "target": 2.0,
            "contender": contender, **ratios}


POINTS = [_point(1, 2.0, 1.0, 1.0, 0.80, params_ratio=1.1),
          _point(2, 1.0, 1.0, 1.4, 0.79, params_ratio=1.0),
          _point(3, 1.0, 1.4, 1.0, 0.78, params_ratio=2.0),
          _point(4, 1.2, 1.1, 1.1, 0.60, contender=False, params_ratio=0.5)]
TIED = {"alpha": 2.0, "beta": 1.0, "gamma": 1.0, "decided": False}


def test_a_tie_recommends_the_cheapest_contender_never_a_separated_point():
    chosen = recommend(TIED, POINTS, "params", lambda p: p["params_ratio"])
    assert chosen["index"] == 2 and chosen["cost_ratio"] == 1.0  # point 4 is cheaper but separated
    assert set(chosen["cost_ratios"]) == {"(2, 1, 1)", "(1, 1, 1.4)", "(1, 1.4, 1)"}


def test_equal_costs_fall_to_the_higher_mean_and_a_decision_recommends_its_winner():
    flat = recommend(TIED, POINTS, "params", lambda p: 1.0)
    assert flat["index"] == 1
    decided = recommend({**TIED, "decided": True}, POINTS, "latency", lambda p: pytest.fail("timed a decision"))
    assert decided["index"] == 1 and decided["reason"].startswith("decided")


def test_fit_and_none():
    fit = {"recommended": True, "beta": 1.05, "gamma": 1.35}
    assert recommend({**TIED, "fit": fit}, POINTS, "fit", None)["index"] == 2
    assert recommend({**TIED, "fit": {**fit, "recommended": False}}, POINTS, "fit", None)["index"] == 1
    assert recommend(TIED, POINTS, "none", None) is None
    with pytest.raises(UserError, match="tie_break"):
        check_tie_break("fastest")


def test_the_outcome_names_the_recommended_point():
    summary = {**TIED, "contenders": POINTS[:3], "noise": {"kind": "pooled"}, "confidence": 0.9,
               "recommended": recommend(TIED, POINTS, "params", lambda p: p["params_ratio"])}
    text = outcome(summary)
    assert text.startswith("No decision: 3 points tie within 2.0 points")
    assert "Of them (1, 1, 1.4) is the smallest, 1.00x the baseline's parameters: recommended" in text


def test_a_finished_fake_grid_recommends_and_expand_picks_it(monkeypatch, tmp_path):
    space = load_space("resnet18")
    from scalesearch.search.candidates import GridSpec, build_candidates
    from scalesearch.runs.grid_tables import collect, save_grid_tables
    from scalesearch.search.study import SearchConfig
    from scalesearch.training.budget import ProxyBudget
    candidates = build_candidates(space, GridSpec(step=0.1))
    the_study, _ = search(space, candidates, monkeypatch, FakeTrainer(lambda c: 0.5), seeds=2)
    config = SearchConfig(space.name, GridSpec(step=0.1), ProxyBudget(epochs=1), seeds=2)
    tables = collect(the_study, candidates, config, "s", "memory")
    assert not tables.summary["decided"] and len(tables.summary["contenders"]) > 1  # all equal: a tie
    add_recommendation(tables, "params", lambda p: p["params_ratio"])
    chosen = tables.summary["recommended"]
    contenders = [p for p in tables.points if p["contender"]]
    assert chosen["index"] in {p["index"] for p in contenders}
    assert chosen["cost_ratio"] == min(p["params_ratio"] for p in contenders)
    assert "recommended" in tables.summary["outcome"]
    resolves = tables.summary["resolves"]  # what the design can tell apart, in the tie's sentence
    assert f"tells gaps of {resolves['gap'] * 100:.1f} points or more" in tables.summary["outcome"]
    save_grid_tables(tmp_path, tables)
    assert read_grid_choice(tmp_path, "recommended").coefficients.as_dict() == \
        {k: chosen[k] for k in ("alpha", "beta", "gamma")}
    plan = plan_family(space, (1.0,), from_dir=tmp_path, pick="recommended")
    assert plan.coefficients.alpha == chosen["alpha"] and "(recommended)" in plan.source


def test_pick_recommended_without_one_is_a_clear_error(tmp_path):
    (tmp_path / "best.json").write_text(json.dumps({"alpha": 1.2, "beta": 1.1, "gamma": 1.1}))
    with pytest.raises(UserError, match="no recommended point"):
        read_grid_choice(tmp_path, "recommended")


def test_grid_refuses_an_unknown_tie_break(cli, tmp_path):
    result = cli("grid", "--baseline", "resnet18", "--tie-break", "fastest", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "tie_break" in result.output.replace("-", "_")
    assert not (tmp_path / "run").exists()


# -- the latency tie-break reads its timings' spread -------------------------------------------

def _rounds(ms, spread, seed, rounds=15):
    """Per-round seconds of a network at `ms`, each round's machine drift shared (seed) and
    its own jitter `spread`."""
    import numpy as np
    drift = np.random.default_rng(0).uniform(0.8, 1.3, rounds)  # the same machine for all
    jitter = 1 + spread * np.random.default_rng(seed).standard_normal(rounds)
    return list(ms / 1e3 * drift * jitter)


def test_latency_picks_the_fastest_only_beyond_the_timings_spread():
    times = {"baseline": _rounds(10, 0.01, 0), 1: _rounds(18.5, 0.01, 1), 2: _rounds(14, 0.01, 2),
             3: _rounds(20, 0.01, 3)}
    chosen = recommend(TIED, POINTS, "latency", None, lambda contenders: times)
    assert chosen["index"] == 2 and chosen["decided_by"] == "latency"
    assert chosen["cost_ratio"] == pytest.approx(1.4, rel=0.02)
    assert chosen["cost_low"] < chosen["cost_ratio"] < chosen["cost_high"]
    assert set(chosen["latencies"]) == {"(2, 1, 1)", "(1, 1, 1.4)", "(1, 1.4, 1)"}


def test_overlapping_latencies_fall_back_to_the_fewest_parameters_and_say_so():
    """The README's case: the leader at 1.66x, another at 1.63x, inside batch-1 timing noise."""
    one = _rounds(16.6, 0.0, 1)
    times = {"baseline": _rounds(10, 0.0, 0), 1: one, 2: _rounds(25, 0.0, 2),
             3: [t * 0.99 * (1 + 0.05 * (-1) ** r) for r, t in enumerate(one)]}  # 1 % faster, 5 % jitter
    chosen = recommend(TIED, POINTS, "latency", None, lambda contenders: times)
    # 3 is a hair faster than 1 but not beyond the spread; of the two, 1 has fewer parameters
    assert chosen["index"] == 1 and chosen["decided_by"] == "params"
    assert "(1, 1.4, 1)" in chosen["reason"] and "(2, 1, 1)" in chosen["reason"]
    summary = {**TIED, "contenders": POINTS[:3], "noise": {"kind": "pooled"}, "confidence": 0.9,
               "recommended": chosen}
    assert "within the timings' spread" in outcome(summary) and "then params" in outcome(summary)
