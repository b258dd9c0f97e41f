"""Costs other than FLOPs: latency measured honestly, activations, params; a Pareto front."""

import json

import pandas as pd
import pytest

from scalesearch import compare
from scalesearch.errors import UserError
from scalesearch.costs.match import match_cost
from scalesearch.costs.meter import Meter
from scalesearch.costs.variant import Variant
from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.stats.ranking import spearman
from scalesearch.spec.presets import fast_exponents
from scalesearch.spec.spaces import load_space


def test_spearman_by_hand():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2, 3, 4) against (2, 1, 4, 3): 1 - 6 * 4 / (4 * 15) = 0.6
    assert spearman([1, 2, 3, 4], [20, 10, 40, 30]) == pytest.approx(0.6)
    assert spearman([1, 2], [1, 2]) != spearman([1, 2], [1, 2])  # NaN under three pairs


def test_fast_scaling_is_a_family():
    # Dollár et al., CVPR 2021, Table 4: a = 1 is width scaling, a = 1/3 uniform dwr, a = 0.8 their pick.
    assert fast_exponents(1.0) == {"depth": 0.0, "width": 0.5, "resolution": 0.0}
    assert fast_exponents(1 / 3) == pytest.approx({"depth": 1 / 3, "width": 1 / 6, "resolution": 1 / 6})
    assert fast_exponents() == pytest.approx({"depth": 0.1, "width": 0.4, "resolution": 0.05})
    assert compare.parse_methods("fast,fast:0.5") == ("fast", "fast:0.5")
    d, w, r = compare.method_setting("fast:1", compare.PAPER_B0).multipliers(4.0)
    assert (d, w, r) == pytest.approx((1.0, 2.0, 1.0))  # fast:1 is width scaling
    with pytest.raises(UserError, match=r"in \(0, 1\]"):
        compare.parse_methods("fast:1.5")


def test_params_are_matched_by_width_alone():
    space = load_space("resnet18")
    meter = Meter("params")
    base = meter(Variant(space))
    landed, adjustment = match_cost(Variant(space, 1.0, 1.2, 1.3), 2 * base, 0.03, meter)
    assert abs(meter(landed) / (2 * base) - 1) <= 0.03
    assert landed.resolution == Variant(space, 1.0, 1.2, 1.3).resolution  # resolution adds no params
    assert "width" in adjustment["summary"] and "resolution" not in adjustment["summary"]


def test_side_by_side_times_every_network_each_round_and_tells_a_heavy_one():
    """The latency tie-break's timings: models x rounds, interleaved; a network ~500x the
    work of another is slower in every round's median (a ratio, never an absolute time)."""
    import torch
    from torch import nn

    from scalesearch.costs.latency import side_by_side
    light = (nn.Conv2d(3, 4, 3), torch.zeros(1, 3, 16, 16))
    heavy = (nn.Conv2d(3, 64, 3), torch.zeros(1, 3, 128, 128))
    times = side_by_side([light, heavy], rounds=5)
    assert [len(t) for t in times] == [5, 5]
    assert sorted(times[1])[2] > 5 * sorted(times[0])[2]


def test_latency_is_cached_per_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALESEARCH_CACHE", str(tmp_path))
    variant = Variant(load_space("mobilenetv2"), resolution=64)
    first = variant.latency()
    again = variant.latency()
    assert first.measured and not again.measured and again.ms == first.ms
    assert first.threads == 1 and first.batch == 1 and first.memory_format in ("channels_last", "contiguous")
    assert "torch" in first.machine and first.low_ms <= first.ms <= first.high_ms


@pytest.mark.slow
def test_repeated_latency_agrees_within_its_spread(cli):
    args = ("profile", "-b", "mobilenetv2", "--resolution", "96", "--latency", "--device", "cpu", "--format", "json")
    runs = [json.loads(cli(*args).stdout) for _ in range(2)]
    a, b = (r["latency_ms"] for r in runs)
    spread = runs[0]["latency_spread"] + runs[1]["latency_spread"]
    # Generous: a shared CI machine; the bound is the reported spread, at least 30%.
    assert abs(a - b) / min(a, b) <= max(spread, 0.3), runs
    assert runs[0]["latency_threads"] == 1 and runs[0]["latency_runs"] >= 10


@pytest.mark.slow
def test_latency_candidates_land_on_twice_the_baseline_latency():
    space = load_space("mobilenetv2")
    candidates = build_candidates(space, GridSpec(step=0.4, cost="latency"))
    for c in candidates[1:]:
        if c.feasible:
            band = max(0.02, c.latency_spread + candidates[0].latency_spread)
            assert abs(c.latency_ratio / 2 - 1) <= band + 1e-9, c
            assert c.measured_ratio == c.latency_ratio and c.flops_ratio > 0


@pytest.mark.slow
def test_a_pareto_grid_finds_a_non_dominated_front(cli, plumbing, tmp_path):
    out = tmp_path / "grid"
    result = cli("grid", "-b", "resnet18", "--objective", "pareto", "--cost", "activations", "--targets", "1.5,2.5",
                 "--step", "0.4", "--epochs", "1", "--train-images", "128", "--val-images", "64",
                 "--test-images", "64", "--device", "cpu", "--workers", "1", "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    best = json.loads(result.stdout)
    front = best["front"]
    points = pd.read_csv(out / "points.csv")
    trained = points[(points["role"] == "candidate") & points["mean"].notna()]
    assert set(trained["target"]) == {1.5, 2.5} and front
    for p in front:  # nobody beats a front point on both objectives
        better = trained[(trained["mean"] >= p["mean"]) & (trained["measured_ratio"] <= p["cost_ratio"])
                         & ((trained["mean"] > p["mean"]) | (trained["measured_ratio"] < p["cost_ratio"]))]
        assert better.empty
    assert [p["cost_ratio"] for p in front] == sorted(p["cost_ratio"] for p in front)
    assert "Pareto front" in (out / "report.md").read_text()
    family = cli("expand", "-b", "resnet18", "--from", out, "--pick", "front:0", "--phi", "0,1",
                 "--out", tmp_path / "family", "--format", "json")
    assert family.exit_code == 0, family.output
    assert json.loads(family.stdout)["growth"] == front[0]["target"]
    assert cli("expand", "-b", "resnet18", "--from", out, "--pick", f"front:{len(front)}").exit_code == 1
