"""Extending scalesearch: a cost registered in a test alone is measured, landed on and
accepted by the CLI — no other module changes (README, "Extending scalesearch")."""

import json

import pytest

from scalesearch.costs.kinds import COSTS, CostKind, cost_help, register_cost
from scalesearch.costs.landing import LAND_TOLERANCE, land
from scalesearch.costs.meter import Meter
from scalesearch.costs.variant import Variant
from scalesearch.errors import UserError
from scalesearch.spec.scaling import PAPER_B0
from scalesearch.spec.spaces import load_space
from tests.tiny import TINY_SPACE, write_space


@pytest.fixture
def weight_bytes():
    """A toy cost: the float32 weights' size, which grows like params (not with resolution)."""
    kind = register_cost(CostKind("weight_bytes", lambda variant, meter: 4 * variant.fast_cost().params,
                                  "bytes", "float32 weights", growth=(1, 2, 0)))
    yield kind
    del COSTS[kind.name]


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


def test_expand_lands_its_members_on_a_registered_cost(weight_bytes, cli, tmp_path):
    out = tmp_path / "family"
    result = cli("expand", "-b", write_space(tmp_path, TINY_SPACE), "--phi", "0,1,2", "--alpha", "1.2",
                 "--beta", "1.1", "--gamma", "1.15", "--exact-cost", "--cost", "weight_bytes",
                 "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    members = json.loads(result.stdout)["members"]
    base = members[0]["params"]
    for member in members:
        assert abs(member["params"] / base / PAPER_B0.product ** member["phi"] - 1) <= 0.03, member
