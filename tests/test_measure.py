"""Measurement: fvcore multiply-adds against hand-derived counts, the fast meta-device
twin against fvcore on every baseline, and no warnings spilled on the user."""

import logging

import pytest
from torch import nn

from scalesearch.models import build_model
from scalesearch.costs.cost import analytic_cost, count_macs, measure_model, measure_spec
from scalesearch.models.complexity import macs_by_part
from scalesearch.spec.spaces import builtin_names, load_space
from scalesearch.costs.variant import Variant


def test_fvcore_counts_match_hand_derived_formula():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=True), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8), nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 5))
    cost = measure_model(model, 3, 16)
    conv1 = 16 * 16 * 8 * 3 * 9          # out pixels x out channels x (in/groups) x k^2
    dw = 8 * 8 * 8 * 1 * 9
    fc = 8 * 5
    assert cost.flops == conv1 + dw + fc
    assert cost.fvcore_total > cost.flops  # batch norm and pooling are counted apart
    assert cost.params == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("scale", [(1.0, 1.0, 1.0), (1.3, 1.15, 0.7)])
@pytest.mark.parametrize("name", builtin_names())
def test_fast_counter_equals_fvcore(name, scale):
    spec = Variant(load_space(name), *scale).spec
    fast, traced = analytic_cost(spec), measure_spec(spec)
    assert count_macs(spec) == fast.flops == traced.flops
    assert (fast.params, fast.activations) == (traced.params, traced.activations)
    assert sum(macs_by_part(spec).values()) == count_macs(spec)


def test_measurement_is_quiet(caplog, capsys):
    spec = Variant(load_space("efficientnet-b0"), 1.0, 1.0, 0.5).spec
    with caplog.at_level(logging.WARNING):
        measure_model(build_model(spec), 3, spec.resolution)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert not [r for r in caplog.records if r.name.startswith("fvcore")]
