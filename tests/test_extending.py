"""Extending scalesearch: a block kind, a cost, a compare method and an export format
registered in a test alone are used through the CLI too — a block kind parsed, built and
counted, a cost measured and landed on, a method solved and compared, a format written and
checked — no other module changes (README, "Extending scalesearch").  Each is removed again
after its test."""

import json

import pytest
import torch

from scalesearch.blocks import BLOCKS, BlockKind, register_block
from scalesearch.blocks.count import out_side
from scalesearch.blocks.layers import ConvBNAct
from scalesearch.costs.cost import analytic_cost, measure_spec
from scalesearch.costs.kinds import COSTS, CostKind, cost_help, register_cost
from scalesearch.costs.landing import LAND_TOLERANCE, land
from scalesearch.costs.meter import Meter
from scalesearch.costs.variant import Variant
from scalesearch import compare
from scalesearch.errors import UserError
from scalesearch.family import EXACT_TOLERANCE
from scalesearch.models import build_model
from scalesearch.models.export_formats import EXPORT_FORMATS, ExportFormat, export_format, format_help, register_format
from scalesearch.spec.methods import METHODS, CompareMethod, Setting, method_help, register_method
from scalesearch.spec.netspec import NetSpec, SpecError, StageSpec
from scalesearch.spec.scaling import PAPER_B0, round_channels, scale_spec
from scalesearch.spec.spaces import load_space
from tests.test_cli_compare import fake_train
from tests.tiny import tiny_family, write_space

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
    with pytest.raises(UserError, match="must be one of flops, params, activations, memory, latency, weight_bytes"):
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


@pytest.fixture
def wide_deep():
    """A toy compare method: width and depth grown together, s'^(1/3) each (FLOPs ~ d w^2 = s')."""
    method = register_method(CompareMethod("wide-deep", "s': w = d = s'^(1/3)", lambda coefficients, text:
                                           Setting(text, "s'", 1.0, lambda s: (s ** (1 / 3), s ** (1 / 3), 1.0))))
    yield method
    del METHODS[method.name]


@pytest.fixture
def pickled():
    """A toy export format: the whole module pickled by torch.save, loaded back by torch.load."""
    def run(path, example):
        with torch.no_grad():
            return torch.load(path, weights_only=False)(example), "torch.load"

    fmt = register_format(ExportFormat("pickle", ".pkl", "the whole module, pickled",
                                       lambda model, example, path: torch.save(model, path), run, tolerance=0.0))
    yield fmt
    del EXPORT_FORMATS[fmt.name]


def test_a_registered_compare_method_is_solved_and_compared(wide_deep, cli, tmp_path, monkeypatch):
    assert "wide-deep (s': w = d = s'^(1/3))" in method_help()
    with pytest.raises(UserError, match="choose from width,depth,resolution,compound,fast\\[:A\\],wide-deep"):
        compare.parse_methods("height")
    with pytest.raises(UserError, match="unknown method 'wide-deep:2'"):
        compare.parse_methods("wide-deep:2")  # it takes no argument
    monkeypatch.setattr(compare, "train_unit", fake_train)
    monkeypatch.setattr(compare, "estimates", lambda setup, todo: {})
    result = cli("compare", "-b", "mobilenetv2", "--target", "2x", "--methods", "wide-deep,compound",
                 "--data", "synthetic", "--train-images", "256", "--val-images", "200", "--out", tmp_path / "run",
                 "--format", "json", "--device", "cpu", "--workers", "1")
    assert result.exit_code == 0, result.output
    row = next(r for r in json.loads(result.stdout) if r["method"] == "wide-deep")
    assert row["knob"] == "s'" and row["depth"] == pytest.approx(row["width"]) and row["resolution_mult"] == 1.0
    assert abs(row["flops_ratio"] / 2 - 1) <= compare.TOLERANCE, row


def test_a_compare_method_registered_twice_or_unreadable_is_refused(wide_deep):
    with pytest.raises(ValueError, match="already registered"):
        register_method(wide_deep)
    for name in ("Wide", "wide:deep", "wide,deep"):  # --methods could never name it
        with pytest.raises(ValueError, match="lower-case name without"):
            register_method(CompareMethod(name, "", wide_deep.setting))


def test_a_registered_export_format_is_written_and_checked(pickled, cli, tmp_path):
    assert "pickle (the whole module, pickled)" in format_help()
    with pytest.raises(UserError, match="known: pt2, onnx, state-dict, pickle"):
        export_format("tflite")
    out = tmp_path / "pickled"
    result = cli("export", tiny_family(cli, tmp_path), "--format", "pickle", "--out", out, "--output", "json")
    assert result.exit_code == 0, result.output
    members = json.loads(result.stdout)["members"]
    assert [m["file"] for m in members] == ["member-phi0.pkl", "member-phi1.pkl"]
    assert all(m["check"]["ok"] and m["check"]["runner"] == "torch.load" for m in members), members
    with pytest.raises(ValueError, match="already registered"):
        register_format(pickled)
