"""--cost memory: training memory measured from what autograd saves (costs/memory.py)."""

import json

import pytest
import torch
from torch import nn

from scalesearch.costs.memory import BATCH, OPTIMIZER_COPIES, saved_bytes_per_image, training_memory
from scalesearch.costs.meter import Meter
from scalesearch.costs.variant import Variant
from scalesearch.spec.spaces import load_space
from tests.tiny import TINY_SPACE, write_space


def test_the_saved_bytes_are_what_autograd_keeps_counted_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16 * 16, 10))
    # The conv keeps its input (3 x 16 x 16 floats), the ReLU its output (8 x 16 x 16), which
    # the Linear keeps again through Flatten's view: one storage, counted once; weights not.
    assert saved_bytes_per_image(model, 3, 16) == 4 * (3 * 16 * 16 + 8 * 16 * 16)
    weights = 4 * (8 * 3 * 9 + 8 * 16 * 16 * 10 + 10)
    assert training_memory(model, 3, 16, batch=10) == 10 * 4 * (11 * 256) + OPTIMIZER_COPIES * weights
    assert not any(p.grad is not None for p in model.parameters())  # measured without a backward


def test_an_efficientnet_needs_about_a_resnet50s_memory_at_a_fifth_of_its_weights():
    b0, r50, r18 = (Variant(load_space(n)) for n in ("efficientnet-b0", "resnet50", "resnet18"))
    assert b0.fast_cost().params * 4 < r50.fast_cost().params
    assert b0.training_memory() > 0.9 * r50.training_memory() > 3 * r18.training_memory() / 0.9 * 0.9
    assert Meter("memory")(b0) == b0.training_memory()  # the registered cost
    assert b0.training_memory() > BATCH * 4 * 3 * 224 * 224  # at least its input images


def test_memory_is_the_same_on_a_second_measure_and_after_dropout():
    v = Variant(load_space("mobilenetv2"))
    first = v.training_memory()
    from scalesearch.costs import memory

    memory._MEASURED.clear()
    assert v.training_memory() == first


def test_expand_lands_a_family_on_memory(cli, tmp_path):
    out = tmp_path / "family"
    result = cli("expand", "-b", write_space(tmp_path, TINY_SPACE), "--phi", "0,1,2,3", "--alpha", "1.2",
                 "--beta", "1.1", "--gamma", "1.15", "--exact-cost", "--cost", "memory", "--out", out,
                 "--format", "json")
    assert result.exit_code == 0, result.output
    family = json.loads(result.stdout)
    members, growth = family["members"], family["growth"]  # growth: alpha beta^2 gamma^2 = 1.92 here
    base = members[0]["training_memory_bytes"]
    for member in members:  # each member on growth^phi of the baseline's measured training memory
        assert member["target_ratio"] == pytest.approx(growth ** member["phi"])
        assert abs(member["training_memory_bytes"] / base / member["target_ratio"] - 1) <= 0.03, member
    assert family["exact_cost"] == "memory"
    assert (out / "family.json").is_file()
