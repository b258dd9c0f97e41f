"""family: phi lists, coefficient sources, the published B0..B7 table, dropout, exact FLOPs."""

import json

import pytest
import torch

from scalesearch.errors import UserError
from scalesearch.family import EXACT_TOLERANCE, plan_family
from scalesearch.spec.phis import parse_phis, phi_label
from scalesearch.costs.match import match_flops
from scalesearch.models import build_model
from scalesearch.spec.spaces import load_space
from scalesearch.costs.variant import Variant

# Parameter counts of the published EfficientNet B0..B7 at ImageNet shape.  B0 and B7 are
# reference.md's golden numbers; B1..B6 are the common reference implementation's counts
# (the same width/depth/resolution table and rounding rules), matched here to the unit.
OFFICIAL_PARAMS = [5_288_548, 7_794_184, 9_109_994, 12_233_232, 19_341_616, 30_389_784,
                   43_040_704, 66_347_960]


@pytest.mark.parametrize("text, expected", [
    ("1..7", (1, 2, 3, 4, 5, 6, 7)), ("0..7", tuple(range(8))), ("-2..3", (-2, -1, 0, 1, 2, 3)),
    ("1,2,4", (1, 2, 4)), ("0.5,1.5", (0.5, 1.5)), ("3", (3,)), ("2..2", (2,)), (" 1 .. 3 ", (1, 2, 3)),
])
def test_parse_phis(text, expected):
    assert parse_phis(text) == tuple(float(v) for v in expected)


@pytest.mark.parametrize("text", ["", "7..1", "4,2,1", "1,1", "1..", "..3", "a", "1...3", "1,,2",
                                  "1;2", "nan", "1..inf", "0..11"])
def test_parse_phis_rejects_with_one_line(text):
    with pytest.raises(UserError) as error:
        parse_phis(text)
    assert "\n" not in str(error.value) and "phi" in str(error.value)


def test_phi_label():
    assert [phi_label(p) for p in (1.0, -2.0, 0.5)] == ["1", "-2", "0.5"]


def _meta_params(variant: Variant) -> int:
    with torch.device("meta"):  # counts parameters without allocating B7
        return sum(p.numel() for p in build_model(variant.spec).parameters())


def test_official_preset_reproduces_published_params():
    space = load_space("efficientnet-b0")
    plan = plan_family(space, None, preset="efficientnet-official")
    assert [m.name for m in plan.members][::7] == ["efficientnet-b0", "efficientnet-b7"]
    variants = [Variant(space, m.depth, m.width, m.resolution_mult, dropout=m.dropout) for m in plan.members]
    assert [_meta_params(v) for v in variants] == OFFICIAL_PARAMS
    assert [v.resolution for v in variants] == [224, 240, 260, 300, 380, 456, 528, 600]
    assert [v.spec.dropout for v in variants] == [0.2, 0.2, 0.3, 0.3, 0.4, 0.4, 0.5, 0.5]


def test_official_preset_only_fits_b0_shaped_spaces():
    with pytest.raises(UserError, match="EfficientNet-B0-shaped"):
        plan_family(load_space("resnet50"), None, preset="efficientnet-official")
    b0 = load_space("efficientnet-b0")
    for phi in ("8", "0.5"):
        with pytest.raises(UserError, match="B0..B7"):
            plan_family(b0, parse_phis(phi), preset="efficientnet-official")


def test_exactly_one_coefficient_source(tmp_path):
    space = load_space("resnet18")
    with pytest.raises(UserError, match="got none"):
        plan_family(space, (1.0,))
    with pytest.raises(UserError, match="preset and alpha/beta/gamma"):
        plan_family(space, (1.0,), preset="paper", alpha=1.2)
    with pytest.raises(UserError, match="go together"):
        plan_family(space, (1.0,), alpha=1.2, beta=1.1)
    with pytest.raises(UserError, match="unknown"):
        plan_family(space, (1.0,), preset="b7")
    with pytest.raises(UserError, match="no best.json"):
        plan_family(space, (1.0,), from_dir=tmp_path)
    (tmp_path / "best.json").write_text(json.dumps({"alpha": 1.4, "beta": 1.1, "gamma": 1.1, "score": 0.8}))
    plan = plan_family(space, (0.0, 2.0), from_dir=tmp_path)
    assert plan.coefficients.alpha == 1.4 and plan.members[1].depth == pytest.approx(1.96)
    (tmp_path / "best.json").write_text("{\"alpha\": 1.2}")
    with pytest.raises(UserError, match="no numeric alpha, beta and gamma"):
        plan_family(space, (1.0,), from_dir=tmp_path)


def test_paper_plan_multipliers():
    plan = plan_family(load_space("mobilenetv2"), parse_phis("-1..2"), preset="paper")
    member = plan.members[-1]
    assert (member.depth, member.width, member.resolution_mult) == pytest.approx((1.44, 1.21, 1.3225))
    assert [m.name for m in plan.members] == ["mobilenetv2-phi-1", "mobilenetv2-phi0",
                                              "mobilenetv2-phi1", "mobilenetv2-phi2"]


def test_dropout_grows_with_phi_and_caps():
    b0 = load_space("efficientnet-b0")  # per_phi 0.05 from 0.2, max 0.5
    assert [b0.dropout_at(p) for p in (0, 1, 3, 7, -2)] == [0.2, 0.25, 0.35, 0.5, 0.1]
    assert load_space("resnet50").dropout_at(3) is None  # no growth declared: keep the spec's


@pytest.mark.parametrize("baseline, phi", [("resnet50", 4.0), ("mobilenetv2", 1.0)])
def test_match_flops_lands_in_band(baseline, phi):
    # Both need width as well as resolution: the target sits in a 32-px FLOP step.
    space = load_space(baseline)
    item = plan_family(space, (phi,), preset="paper").members[0]
    variant = Variant(space, item.depth, item.width, item.resolution_mult)
    target = Variant(space).macs() * 1.92 ** phi
    adjusted, adjustment = match_flops(variant, target)
    assert abs(adjusted.macs() / target - 1) <= EXACT_TOLERANCE
    assert abs(adjustment["error"]) <= EXACT_TOLERANCE and "resolution" in adjustment["summary"]
    assert adjusted.depth == variant.depth


def test_match_flops_leaves_members_already_in_band_alone():
    variant = Variant(load_space("resnet18"))
    assert match_flops(variant, variant.macs() * 1.01) == (variant, {})


def test_from_a_grid_of_another_baseline_is_refused_unless_forced(tmp_path):
    (tmp_path / "best.json").write_text(json.dumps({"baseline": "mobilenetv2", "alpha": 1.2, "beta": 1.1,
                                                    "gamma": 1.1, "target": 2.0}))
    space = load_space("resnet18")
    with pytest.raises(UserError, match="a grid of 'mobilenetv2', not 'resnet18'.*force_coefficients"):
        plan_family(space, (1.0,), from_dir=tmp_path)
    assert plan_family(space, (1.0,), from_dir=tmp_path, force_coefficients=True).coefficients.alpha == 1.2


def test_pick_fit_takes_the_fit_only_where_it_is_recommended(tmp_path):
    best = {"baseline": "resnet18", "alpha": 1.2, "beta": 1.1, "gamma": 1.1, "target": 2.0,
            "fit": {"alpha": 1.3, "beta": 1.05, "gamma": 1.12, "recommended": False, "reason": "it is bumpy"}}
    (tmp_path / "best.json").write_text(json.dumps(best))
    space = load_space("resnet18")
    with pytest.raises(UserError, match="not recommended: it is bumpy"):
        plan_family(space, (1.0,), from_dir=tmp_path, pick="fit")
    best["fit"]["recommended"] = True
    (tmp_path / "best.json").write_text(json.dumps(best))
    plan = plan_family(space, (1.0,), from_dir=tmp_path, pick="fit")
    assert plan.coefficients.as_dict() == {"alpha": 1.3, "beta": 1.05, "gamma": 1.12}
    assert "smooth fit" in plan.source


def test_fast_preset_is_dollars_rule_as_coefficients_and_doubles_per_phi():
    from scalesearch.spec.presets import fast_coefficients

    alpha, beta, gamma = fast_coefficients(0.8)  # Dollar et al. 2021: e_d 0.1, e_w 0.4, e_r 0.05
    assert (alpha, beta, gamma) == pytest.approx((2 ** 0.1, 2 ** 0.4, 2 ** 0.05))
    assert alpha * beta ** 2 * gamma ** 2 == pytest.approx(2.0)
    assert fast_coefficients(1.0) == pytest.approx((1.0, 2 ** 0.5, 1.0))  # a = 1: width alone
    plan = plan_family(load_space("mobilenetv2"), (0.0, 1.0, 2.0), preset="fast:0.6")
    assert plan.growth == 2.0 and "fast:0.6" in plan.source
    assert plan.coefficients.alpha == pytest.approx(2 ** 0.2) and plan.coefficients.gamma == pytest.approx(2 ** 0.1)


@pytest.mark.parametrize("preset", ["fast:0", "fast:1.5", "fast:x", "fastest"])
def test_a_bad_fast_preset_is_one_line(preset):
    with pytest.raises(UserError):
        plan_family(load_space("resnet18"), (1.0,), preset=preset)


def test_a_fast_family_lands_on_twice_the_cost_per_phi(cli, tmp_path):
    result = cli("expand", "-b", "mobilenetv2", "--preset", "fast", "--phi", "0..3", "--out", tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    members = json.loads(result.stdout)["members"]
    for m in members:
        assert m["flops_ratio"] == pytest.approx(2 ** m["phi"], rel=0.05)


def _fake_unit(candidate, space, config, data, *, seed_index=0, **kwargs):
    """A proxy training that costs nothing: depth alone leads (a known leader)."""
    from scalesearch.training.loop import TrainResult

    accuracy = 0.5 + 0.1 * candidate.beta * candidate.gamma - 0.05 * candidate.alpha - 0.01 * seed_index
    return TrainResult(val_accuracy=accuracy, test_accuracy=accuracy, images_per_second=1.0, epochs=1, seconds=0.0)


def test_expand_from_a_down_scaling_grid_shrinks_by_its_target_per_phi(cli, tmp_path, monkeypatch):
    from scalesearch.search import worker

    monkeypatch.setattr(worker, "train_candidate", _fake_unit)
    grid_dir = tmp_path / "grid"
    result = cli("grid", "-b", "resnet18", "--target", "0.5", "--step", "0.2", "--seeds", "1", "--workers", "1",
                 "--threads", "1", "--data", "synthetic", "--epochs", "1", "--train-images", "64",
                 "--val-images", "64", "--test-images", "64", "--device", "cpu", "--out", grid_dir,
                 "--format", "json")
    assert result.exit_code == 0, result.output
    best = json.loads(result.stdout)
    assert (best["target"], best["alpha"], best["beta"], best["gamma"]) == (0.5, 0.5, 1.0, 1.0)
    result = cli("expand", "-b", "resnet18", "--from", grid_dir, "--phi", "0..3", "--out", tmp_path / "family",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    members = json.loads(result.stdout)["members"]
    for m in members:  # member phi costs 0.5^phi x the baseline: it shrinks as phi grows
        assert m["target_ratio"] == 0.5 ** m["phi"] and m["flops_ratio"] == pytest.approx(0.5 ** m["phi"], rel=0.05)
    one = members[1]  # the network the grid trained for its leader
    assert best["phi1_network"] == {"depth": one["depth"], "width": one["width"], "resolution": one["resolution"]}
