"""Every registered baseline builds, runs forward and backward without NaN, at its own
and at a scaled (d, w, r), and every parameter receives a gradient."""

import pytest
import torch

from scalesearch.spec.spaces import builtin_names, load_space
from scalesearch.costs.variant import Variant

SCALES = [(1.0, 1.0, 1.0), (1.4, 1.2, 1.3), (0.5, 0.5, 1.0)]


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: "d{}-w{}-r{}".format(*s))
@pytest.mark.parametrize("name", builtin_names())
def test_forward_backward_at_proxy_shape(name, scale):
    torch.manual_seed(0)
    variant = Variant(load_space(name), *scale).at_proxy(32, in_channels=1, num_classes=10)
    model = variant.build().train()
    x = torch.randn(2, 1, variant.resolution, variant.resolution)
    logits = model(x)
    assert logits.shape == (2, 10)
    logits.logsumexp(1).sum().backward()
    assert torch.isfinite(logits).all()
    for pname, param in model.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), pname


def test_factory_baseline_builds_at_scale(monkeypatch):
    from tests.conftest import EXAMPLES

    monkeypatch.syspath_prepend(str(EXAMPLES))
    space = load_space("plain_cnn:plain_cnn")
    small, big = Variant(space), Variant(space, depth=2.0, width=1.5, resolution_mult=1.5)
    assert space.resolution == 32 and big.resolution == 48
    assert big.cost().params > small.cost().params
    assert big.build()(torch.zeros(1, 3, 48, 48)).shape == (1, 1000)


def test_a_seeded_build_has_that_seeds_weights_whatever_ran_before():
    variant = Variant(load_space("mobilenetv2"), resolution=32, in_channels=1, num_classes=10)
    first = variant.build(seed=3).state_dict()
    torch.rand(1000)  # another trial, a timing probe: draws from the global RNG
    state = torch.random.get_rng_state()
    again = variant.build(seed=3).state_dict()
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    assert all(torch.equal(first[k], again[k]) for k in first)
    other = variant.build(seed=4).state_dict()
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_cropped_taps_give_the_same_outputs_and_gradients():
    """SameConv2d skips kernel taps that only meet padding on small maps (training only)."""
    from scalesearch.blocks.layers import SameConv2d

    torch.manual_seed(0)
    for side, kernel, groups in [(1, 5, 8), (2, 5, 8), (3, 5, 8), (2, 3, 1), (4, 5, 8)]:
        conv = SameConv2d(8, 8, kernel, 1, kernel // 2, groups=groups, bias=False).double().train()
        x = torch.randn(4, 8, side, side, dtype=torch.float64, requires_grad=True)
        conv(x).square().sum().backward()
        grads = conv.weight.grad.clone(), x.grad.clone()
        conv.weight.grad, x.grad = None, None
        plain = torch.nn.functional.conv2d(x, conv.weight, None, 1, kernel // 2, 1, groups)
        plain.square().sum().backward()
        assert torch.allclose(conv(x), plain) and torch.allclose(grads[0], conv.weight.grad)
        assert torch.allclose(grads[1], x.grad)
