"""Grid candidates keep both promises: the law (alpha beta^2 gamma^2 = 2) and a fair phi = 1 cost."""

import pytest

from scalesearch.errors import UserError
from scalesearch.measure.variant import Variant
from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.spec.spaces import load_space


@pytest.mark.parametrize("baseline", ["efficientnet-b0", "mobilenetv2", "resnet50"])
def test_every_feasible_candidate_keeps_the_law_and_trains_at_twice_the_cost(baseline):
    space = load_space(baseline)
    grid = GridSpec.from_space(space)
    candidates = build_candidates(space, grid)
    base = Variant(space).cost().flops  # fvcore, not the analytic twin the solver used
    feasible = [c for c in candidates[1:] if c.feasible]
    assert len(feasible) == len(candidates) - 1 == 12  # the default grid: every point lands
    for c in feasible:
        assert c.nominal_ratio == pytest.approx(c.alpha * c.beta**2 * c.gamma**2)
        assert abs(c.nominal_ratio / 2 - 1) <= 0.02 + 1e-9, c  # the law
        measured = c.variant(space).cost().flops / base
        assert abs(measured / 2 - 1) <= 0.02, (c, measured)  # what is trained costs 2x
        assert measured == pytest.approx(c.measured_ratio, rel=1e-9)


def test_rounding_is_corrected_on_the_network_not_in_the_coefficients():
    space = load_space("efficientnet-b0")
    candidates = build_candidates(space, GridSpec())
    # (alpha, 1.0, 1.2): ceil adds blocks everywhere, so the rounded network costs 2.55x;
    # alpha stays on the law and the trained network's resolution comes down instead.
    c = next(c for c in candidates if (c.beta, c.gamma) == (1.0, 1.2))
    assert c.alpha == pytest.approx(2 / 1.2**2, abs=1e-6)
    assert c.raw_ratio > 2.4 and c.resolution < round(224 * 1.2)
    assert "resolution 269 → " in c.correction
    # Within the law's band, alpha 1.0 beats 1.02 (which would add a block to every stage).
    resolution_only = next(c for c in candidates if (c.beta, c.gamma) == (1.0, 1.4))
    assert resolution_only.alpha == 1.0 and resolution_only.correction == ""
    assert resolution_only.nominal_ratio == pytest.approx(1.96)


def test_proxy_shape_follows_the_corrected_resolution():
    space = load_space("efficientnet-b0")
    c = next(c for c in build_candidates(space, GridSpec()) if (c.beta, c.gamma) == (1.0, 1.2))
    proxy = c.variant(space).at_proxy(32, 1, 10)
    assert proxy.resolution == round(32 * c.resolution / 224)


def test_3d_candidates_keep_the_nominal_product_within_two_percent():
    grid = GridSpec(shape="3d", step=0.1)
    candidates = build_candidates(load_space("resnet18"), grid)[1:]
    assert candidates and all(abs(c.nominal_ratio / 2 - 1) <= 0.02 + 1e-9 for c in candidates)
    assert {(c.alpha, c.beta, c.gamma) for c in candidates} >= {(2.0, 1.0, 1.0), (1.0, 1.4, 1.0)}
    assert all(c.feasible == (abs(c.measured_ratio / 2 - 1) <= 0.02 + 1e-12) for c in candidates)


@pytest.mark.parametrize("kwargs, fragment", [
    ({"low": 0.8}, "low 0.8"),
    ({"high": 0.9}, "high 0.9 is below low"),
    ({"step": 0}, "step"),
    ({"shape": "4d"}, "grid_shape must be 2d or 3d"),
    ({"target": 1.0}, "target 1.0"),
    ({"tolerance": 0.6}, "relative"),
    ({"step": 1e-9}, "about 1,000,000,001"),
])
def test_bad_grid_settings(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        GridSpec(**kwargs)


def test_empty_grid_says_what_to_relax():
    with pytest.raises(UserError, match="relax tolerance"):
        build_candidates(load_space("resnet18"), GridSpec(shape="3d", step=0.3, tolerance=0.001))
