"""Extending scalesearch: a block kind and a cost registered in a test alone are parsed,
built, counted, measured and landed on, through the CLI too — no other module changes
(README, "Extending scalesearch").  Each is removed again after its test."""

import json

import pytest

from scalesearch.blocks import BLOCKS, BlockKind, register_block
from scalesearch.blocks.count import out_side
from scalesearch.blocks.layers import ConvBNAct
from scalesearch.costs.cost import analytic_cost, measure_spec
from scalesearch.costs.kinds import COSTS, CostKind, cost_help, register_cost
from scalesearch.costs.landing import LAND_TOLERANCE, land
from scalesearch.costs.meter import Meter
from scalesearch.costs.variant import Variant
from scalesearch.errors import UserError
from scalesearch.family import EXACT_TOLERANCE
from scalesearch.models import build_model
from scalesearch.spec.netspec import NetSpec, SpecError, StageSpec
from scalesearch.spec.scaling import PAPER_B0, round_channels, scale_spec
from scalesearch.spec.spaces import load_space
from tests.tiny import write_space

TOY_SPACE = """
network:
  name: toy
  resolution: 64
  stem: {channels: 16, kernel: 3, stride: 2}
  stages: [mb_r1_k3_s1_e2_c16_se0.25, plain_r2_k3_s2_c64]
  head: {channels: 128}
"""


@pytest.fixture
def plain():
    """A toy block kind: one kxk conv + BN + activation (VGG's block), no expansion."""
    def build(stage, cin, stride, activation, bn_eps, drop_path):
        return ConvBNAct(cin, stage.channels, stage.kernel, stride, activation=activation, bn_eps=bn_eps)

    def count(stage, cin, side, stride, into):
        out = out_side(side, stride)
        into.conv(out, cin, stage.channels, stage.kernel)
        return out

    kind = register_block(BlockKind("plain", build, count, keys=("r", "k", "s", "c", "a")))
    yield kind
    del BLOCKS[kind.name]


@pytest.fixture
def weight_bytes():
    """A toy cost: the float32 weights' size, which grows like params (not with resolution)."""
    kind = register_cost(CostKind("weight_bytes", lambda variant, meter: 4 * variant.fast_cost().params,
                                  "bytes", "float32 weights", growth=(1, 2, 0)))
    yield kind
    del COSTS[kind.name]


def _toy_spec() -> NetSpec:
    return NetSpec.from_dict({"name": "toy", "resolution": 64, "stem": {"channels": 8},
                              "stages": ["mb_r1_k3_s1_e2_c8_se0.25", "plain_r2_k5_s2_c16_arelu6"]}).validate()


def test_a_registered_block_kind_is_parsed_built_and_counted(plain):
    spec = _toy_spec()
    assert spec.stages[1] == StageSpec("plain", 2, 16, kernel=5, stride=2, activation="relu6")
    assert spec.stages[1].encode() == "plain_r2_k5_s2_c16_arelu6"
    assert [type(block).__name__ for block in build_model(spec).stages[1]] == ["ConvBNAct"] * 2
    traced, fast = measure_spec(spec), analytic_cost(spec)
    assert (fast.params, fast.flops, fast.activations) == (traced.params, traced.flops, traced.activations)
    assert scale_spec(spec, 2.0, 1.5).stages[1].channels == round_channels(16 * 1.5)


def test_a_block_kind_registered_twice_or_unknown_is_refused(plain):
    with pytest.raises(ValueError, match="already registered"):
        register_block(plain)
    with pytest.raises(SpecError, match=r"unknown kind 'vgg' \(known: mb, ir, ds, basic, bottleneck, plain\)"):
        StageSpec.parse("vgg_r1_c8")


def test_a_registered_cost_is_measured_and_landed_on(weight_bytes):
    baseline = Variant(load_space("resnet18"))
    meter = Meter("weight_bytes")
    assert meter(baseline) == 4 * baseline.fast_cost().params
    assert meter.knobs == ("width",)
    landing = land(baseline, PAPER_B0, 1.0, 2.0, meter=meter)
    assert abs(meter(landing.variant) / meter(baseline) / 2 - 1) <= LAND_TOLERANCE
    assert "weight_bytes (bytes: float32 weights)" in cost_help()


def test_a_cost_registered_twice_or_unknown_is_refused(weight_bytes):
    with pytest.raises(ValueError, match="already registered"):
        register_cost(weight_bytes)
    with pytest.raises(UserError, match="must be one of flops, params, activations, latency, weight_bytes"):
        Meter("watts")


def test_expand_lands_a_family_of_the_toy_block_on_the_toy_cost(plain, weight_bytes, cli, tmp_path):
    out = tmp_path / "family"
    result = cli("expand", "-b", write_space(tmp_path, TOY_SPACE), "--phi", "0,1,2", "--alpha", "1.2",
                 "--beta", "1.1", "--gamma", "1.15", "--exact-cost", "--cost", "weight_bytes",
                 "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    members = json.loads(result.stdout)["members"]
    assert "plain_r2_k3_s2_c64" in (out / "member-phi0.yaml").read_text()
    for member in members:  # weight bytes are 4 x params
        assert abs(member["params"] / members[0]["params"] / member["target_ratio"] - 1) <= EXACT_TOLERANCE, member
