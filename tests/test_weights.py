"""Weights by order: a state_dict from an independently written network loads and gives
its outputs exactly; mismatches are refused naming the tensor; source presets are data.

torchvision's and timm's own models are checked two ways: against the libraries where
they import (never here: no torchvision build matches torch 2.13 CPU), and always against
fixtures made with them (tests/fixtures/weight_orders, by tests/fixtures/make_weight_orders.py):
each holds a library model's state_dict layout and its logits for weights and an input that
tests/fixtures/weight_fill.py rebuilds from numpy under any torch."""

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import scalesearch
from scalesearch.errors import UserError
from scalesearch.models.weights import load_weights, map_by_order
from scalesearch.spec.spaces import load_space
from scalesearch.spec.weight_sources import apply_weight_source
from tests.fixtures.weight_fill import describe, fill_state, sample_input

WEIGHT_ORDERS = Path(__file__).resolve().parent / "fixtures" / "weight_orders"


class _Block(nn.Module):
    """A ResNet basic block written from the paper, with names unlike ours."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.an = nn.BatchNorm2d(cout)
        self.b = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn_ = nn.BatchNorm2d(cout)
        self.skip = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                     if stride != 1 or cin != cout else None)

    def forward(self, x):
        y = self.bn_(self.b(torch.relu(self.an(self.a(x)))))
        return torch.relu(y + (x if self.skip is None else self.skip(x)))


class HandResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.entry = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.entry_norm = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_Block(cin, cout, stride), _Block(cout, cout, 1)]
            cin = cout
        self.trunk = nn.Sequential(*blocks)
        self.out = nn.Linear(512, classes)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.entry_norm(self.entry(x))), 3, 2, 1)
        return self.out(self.trunk(x).mean((2, 3)))


def _randomised(model):
    """Random weights and BN statistics, so that every tensor matters to the output."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.2, 0.2)
    return model.eval()


def test_a_hand_written_resnet18_state_dict_loads_by_order_and_gives_its_outputs_exactly(tmp_path):
    torch.manual_seed(0)
    reference = _randomised(HandResNet18().double())  # BN statistics drawn in float64: not float32 values
    path = tmp_path / "hand-resnet18.pt"
    torch.save(reference.state_dict(), path)
    ours = scalesearch.build_model("resnet18").double()
    loaded = load_weights(ours, path)
    assert loaded.tensors == 102  # 62 params + 40 BN running stats (20 counters left out)
    ours.eval()
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))


def test_a_file_without_batch_counters_loads_the_same(tmp_path):
    reference = _randomised(HandResNet18())
    state = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, tmp_path / "w.pt")
    ours = scalesearch.build_model("resnet18", weights=tmp_path / "w.pt").eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=0, atol=1e-5)


def test_a_shape_mismatch_is_refused_in_one_line_naming_both_tensors(tmp_path):
    torch.save(HandResNet18(classes=10).state_dict(), tmp_path / "w.pt")
    with pytest.raises(UserError) as error:
        scalesearch.build_model("resnet18", weights=tmp_path / "w.pt")
    message = str(error.value)
    assert "out.weight" in message and "classifier.weight" in message and "(10, 512)" in message
    assert "\n" not in message


def test_the_same_shapes_in_another_order_are_refused_saying_so(tmp_path):
    reference = HandResNet18()
    state = reference.state_dict()
    block = [k for k in state if k.startswith("trunk.2.")]
    skip_first = [k for k in block if ".skip." in k] + [k for k in block if ".skip." not in k]
    at = list(state).index(block[0])  # a torchvision-like block, but its shortcut registered first
    keys = list(state)[:at] + skip_first + list(state)[at + len(block):]
    torch.save({k: state[k] for k in keys}, tmp_path / "w.pt")
    with pytest.raises(UserError, match="trunk.2.skip.0.weight is .* same shapes in another order"):
        scalesearch.build_model("resnet18", weights=tmp_path / "w.pt")


def test_a_count_mismatch_is_refused_naming_the_first_difference(tmp_path):
    torch.save(HandResNet18().state_dict(), tmp_path / "w.pt")
    with pytest.raises(UserError, match=r"holds 102 tensors, the model 267 .*at tensor 5: the file.s trunk.0.a.weight is \(64, 64, 3, 3\), the model.s stages.0.0.body.0.0.weight is \(64, 64, 1, 1\)"):
        scalesearch.build_model("resnet50", weights=tmp_path / "w.pt")


def test_not_a_state_dict_is_one_line(tmp_path):
    (tmp_path / "w.pt").write_text("hello")
    with pytest.raises(UserError, match="not a torch state_dict file"):
        scalesearch.build_model("resnet18", weights=tmp_path / "w.pt")
    with pytest.raises(UserError, match="no such file"):
        scalesearch.build_model("resnet18", weights=tmp_path / "missing.pt")


def test_fit_shape_sums_the_stem_over_rgb_and_keeps_a_fresh_classifier():
    reference = _randomised(HandResNet18())
    model = scalesearch.build_model("resnet18", in_channels=1, num_classes=10)
    mapped, adapted, fresh = map_by_order(model, reference.state_dict(), fit_shape=True)
    assert adapted == ("stem.0.0.weight",) and fresh == ("classifier.weight", "classifier.bias")
    assert torch.equal(mapped["stem.0.0.weight"], reference.entry.weight.sum(1, keepdim=True))


def test_a_checkpoint_holding_a_state_dict_loads(tmp_path):
    reference = _randomised(HandResNet18())
    torch.save({"epoch": 3, "state_dict": reference.state_dict()}, tmp_path / "ckpt.pt")
    model = scalesearch.build_model("resnet18")
    assert load_weights(model, tmp_path / "ckpt.pt").tensors == 102


def test_weight_sources_set_spec_fields_as_data():
    b0, v1 = load_space("efficientnet-b0").network, load_space("mobilenetv1").network
    assert b0.bn_eps == 1e-3  # ours
    assert apply_weight_source(b0, "torchvision").bn_eps == 1e-5  # torchvision's B0..B4: BN defaults
    assert apply_weight_source(b0, "timm").bn_eps == 1e-5
    assert apply_weight_source(v1, "timm").activation == "relu6"
    with pytest.raises(UserError, match="padding"):
        apply_weight_source(b0, "tf")
    with pytest.raises(UserError, match="no convention known for 'mobilenetv1'"):
        apply_weight_source(v1, "torchvision")
    with pytest.raises(UserError, match="unknown; known: torchvision, timm, tf"):
        apply_weight_source(b0, "keras")
    model = scalesearch.build_model("efficientnet-b0", weights_from="timm")
    assert {m.eps for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {1e-5}


def test_bn_momentum_is_a_spec_field_every_bn_uses_and_the_default_keeps_the_hash():
    from dataclasses import replace

    spec = load_space("resnet18").network
    assert "bn_momentum" not in spec.to_dict()  # specs written before the field: same YAML, same hash
    slow = replace(spec, bn_momentum=0.01)
    assert slow.spec_hash() != spec.spec_hash()
    assert type(spec).from_dict(slow.to_dict()).bn_momentum == 0.01
    model = scalesearch.models.build_model(slow)
    assert {m.momentum for m in model.modules() if isinstance(m, nn.BatchNorm2d)} == {0.01}


@pytest.mark.parametrize("baseline, name", [("resnet50", "resnet50"), ("mobilenetv2", "mobilenet_v2"),
                                            ("efficientnet-b0", "efficientnet_b0")])
def test_torchvision_random_init_weights_give_torchvision_outputs(tmp_path, baseline, name):
    torchvision = pytest.importorskip(
        "torchvision", reason="torchvision is not installed (no build matches torch 2.13 CPU here)")
    reference = _randomised(getattr(torchvision.models, name)())
    torch.save(reference.state_dict(), tmp_path / "w.pt")
    ours = scalesearch.build_model(baseline, weights=tmp_path / "w.pt", weights_from="torchvision").eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("baseline, name", [("resnet50", "resnet50"), ("mobilenetv2", "mobilenetv2_100"),
                                            ("efficientnet-b0", "efficientnet_b0")])
def test_timm_random_init_weights_give_timm_outputs(tmp_path, baseline, name):
    timm = pytest.importorskip("timm", reason="timm is not installed (it needs torchvision, which has no "
                                              "build matching torch 2.13 CPU here)")
    reference = _randomised(timm.create_model(name))
    torch.save(reference.state_dict(), tmp_path / "w.pt")
    ours = scalesearch.build_model(baseline, weights=tmp_path / "w.pt", weights_from="timm").eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), reference(x), rtol=1e-4, atol=1e-4)


def _counted(layout):
    """(index, name, shape) of the tensors an order mapping pairs: BN counters left out."""
    return [(i, name, tuple(shape)) for i, (name, shape, _) in enumerate(layout)
            if not name.endswith("num_batches_tracked")]


# The libraries' models that the importorskip tests above compare with (listed, not globbed:
# a fixture gone missing fails instead of dropping out).
@pytest.mark.parametrize("fixture", [f"{library}-{name}.json" for library, name in (
    ("torchvision", "resnet50"), ("torchvision", "mobilenet_v2"), ("torchvision", "efficientnet_b0"),
    ("timm", "resnet50"), ("timm", "mobilenetv2_100"), ("timm", "efficientnet_b0"))])
def test_library_weights_from_a_fixture_load_by_order_and_give_its_logits(tmp_path, fixture):
    """torchvision's / timm's state_dict layout and float64 logits, recorded by the generator,
    against our baseline built with weights_from=library: same tensor order and shapes, and
    the same logits for the same numpy-made weights and input."""
    recorded = json.loads((WEIGHT_ORDERS / fixture).read_text())
    layout = [(name, tuple(shape), dtype) for name, shape, dtype in recorded["tensors"]]
    library, baseline = recorded["library"], recorded["baseline"]

    torch.save(fill_state(layout), tmp_path / "w.pt")
    model = scalesearch.build_model(baseline, weights=tmp_path / "w.pt", weights_from=library)

    ours = describe(model.state_dict())
    theirs_counted, ours_counted = _counted(layout), _counted(ours)
    assert len(ours_counted) == len(theirs_counted), (len(ours_counted), len(theirs_counted))
    for (i, name, shape), (j, key, mine) in zip(theirs_counted, ours_counted):
        assert shape == mine, f"{library}'s tensor {i} {name} {shape} vs our {j} {key} {mine}"
    assert [d for _, _, d in layout if d != "int64"] == [d for _, _, d in ours if d != "int64"]

    model = model.double().eval()  # float32 weights as filled, computed in float64 as recorded
    with torch.no_grad():
        logits = model(sample_input().double())[0]
    expected = torch.tensor(recorded["logits"], dtype=torch.float64)
    torch.testing.assert_close(logits, expected, rtol=1e-7, atol=1e-8)
    assert abs(float(logits.sum()) - recorded["logits_sum"]) < 1e-6
