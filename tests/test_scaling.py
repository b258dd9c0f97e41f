"""Scaling is a pure NetSpec -> NetSpec function with the reference rounding rules."""

import math

import pytest

from scalesearch.spec.scaling import (PAPER_B0, Coefficients, ScalingError, grid_2d, grid_3d,
                                 round_channels, round_repeats, round_resolution, scale_spec)
from scalesearch.spec.spaces import load_space


# Worked by hand from the reference rule (reference.md): max(8, int(c + 4) // 8 * 8), plus 8
# if that lost more than 10% of c.
@pytest.mark.parametrize("channels, expected", [
    (32 * 2.0, 64), (1280 * 1.1, 1408), (16 * 1.1, 16), (24 * 1.2, 32), (3.0, 8), (20.0, 24),
    (35.0, 32),  # int(39) // 8 * 8 = 32, a loss of 8.6%: kept
    (19.9, 24),  # int(23.9) // 8 * 8 = 16 would lose 19.6%: + 8
    (11.9, 16),  # int(15.9) // 8 * 8 = 8 would lose 32.8%: + 8
    (12.0, 16),  # int(16) // 8 * 8 = 16: rounds up
    (43.9, 40),  # int(47.9) // 8 * 8 = 40, a loss of 8.9%: kept
])
def test_round_channels_follows_the_reference_rule(channels, expected):
    assert round_channels(channels) == expected


def test_round_channels_never_loses_more_than_ten_percent():
    for tenth in range(10, 4000):
        c = tenth / 10
        assert round_channels(c) >= 0.9 * c and round_channels(c) % 8 == 0


def test_round_repeats_ceil_and_round_rules():
    assert round_repeats(3, 1.1) == 4 and round_repeats(3, 1.1, "round") == 3
    assert round_repeats(1, 0.25) == 1 and round_repeats(4, 3.1) == 13
    assert round_repeats(3, 1.1 * (1 / 1.1)) == 3  # float noise does not add a block
    assert round_resolution(224 * 1.15) == 258 and round_resolution(257.6, 8) == 256


def test_scale_spec_is_pure_and_rounds_every_part():
    spec = load_space("efficientnet-b0").network
    before = spec.to_dict()
    scaled = scale_spec(spec, depth=3.1, width=2.0)
    assert spec.to_dict() == before
    assert scaled.stem.channels == 64 and scaled.head.channels == 2560
    assert [s.repeats for s in scaled.stages] == [math.ceil(r * 3.1) for r in (1, 2, 2, 3, 3, 4, 1)]
    assert scale_spec(spec) == spec


def test_mobilenetv2_keeps_its_head_below_width_one():
    spec = load_space("mobilenetv2").network
    assert scale_spec(spec, width=0.5).head.channels == 1280
    assert scale_spec(spec, width=1.4).head.channels == 1792


def test_bottleneck_width_scales_the_inner_width():
    spec = scale_spec(load_space("resnet50").network, width=1.5)
    assert [s.channels for s in spec.stages] == [384, 768, 1536, 3072]


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf")])
def test_non_positive_or_nan_multipliers_are_refused(bad):
    spec = load_space("resnet18").network
    with pytest.raises(ScalingError):
        scale_spec(spec, width=bad)


def test_phi_may_be_zero_fractional_or_negative():
    assert PAPER_B0.multipliers(0) == (1, 1, 1)
    d, w, r = PAPER_B0.multipliers(-1)
    assert d == pytest.approx(1 / 1.2) and w == pytest.approx(1 / 1.1) and r == pytest.approx(1 / 1.15)
    assert PAPER_B0.multipliers(0.5)[0] == pytest.approx(1.2**0.5)
    assert PAPER_B0.product == pytest.approx(1.92, abs=1e-3)


def test_default_2d_grid_has_twelve_points_with_the_extremes():
    points = grid_2d()
    assert len(points) == 12
    assert all(p.product == pytest.approx(2.0, rel=1e-5) for p in points)
    triples = {(p.alpha, p.beta, p.gamma) for p in points}
    assert (2.0, 1.0, 1.0) in triples
    assert any(b == 1.4 and g == 1.0 for _, b, g in triples)
    assert any(b == 1.0 and g == 1.4 for _, b, g in triples)


def test_paper_style_3d_grid_counts_boundary_points_exactly():
    # design.md counts 108; the 109th is (1.9, 1, 1), whose product is exactly 1.9 --
    # inside |product - 2| <= 0.1 -- but evaluates to 1.8999999999999999 in floats.
    points = grid_3d()
    assert len(points) == 109
    assert Coefficients(1.9, 1.0, 1.0) in points
    assert Coefficients(1.2, 1.1, 1.15) in points


def test_down_scaling_grids_step_down_from_one():
    points = grid_2d(0.1, 0.5, 0.5, band=0.02)  # target 0.5, coefficients down to 0.5
    triples = {(p.alpha, p.beta, p.gamma) for p in points}
    assert (0.5, 1.0, 1.0) in triples and (1.0, 0.7, 1.0) in triples and (1.0, 1.0, 0.7) in triples
    assert all(0.5 <= min(p.alpha, p.beta, p.gamma) and max(p.alpha, p.beta, p.gamma) <= 1 for p in points)
    assert all(abs(p.product / 0.5 - 1) <= 0.02 + 1e-9 for p in points) and len(points) == 10
    assert {(p.alpha, p.beta, p.gamma) for p in grid_2d(0.1, 0.5, 0.5)} == triples - {(1.0, 0.7, 1.0),
                                                                                   (1.0, 1.0, 0.7)}
    down_3d = grid_3d(low=0.5, high=1.0, step=0.1, target=0.5, tolerance=0.01)
    assert Coefficients(0.5, 1.0, 1.0) in down_3d and all(p.product <= 0.51 + 1e-9 for p in down_3d)


def test_alpha_is_one_where_that_keeps_the_law_within_its_band():
    # alpha 2 / 1.96 = 1.02 would add a block to every one-block stage at any t > 0.
    assert Coefficients(1.0, 1.0, 1.4) in grid_2d(band=0.02) and Coefficients(1.0, 1.0, 1.4) not in grid_2d()


def test_grids_refuse_empty_or_non_positive_ranges():
    with pytest.raises(ScalingError, match="above 0"):
        grid_3d(low=0.0)
    with pytest.raises(ScalingError, match="empty"):
        grid_3d(low=1.5, high=1.0)
