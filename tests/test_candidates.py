"""Grid candidates: the constraint checked nominally and on measured FLOPs."""

import pytest

from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.errors import UserError
from scalesearch.spec.spaces import load_space


def test_2d_candidates_solve_alpha_on_measured_flops():
    grid = GridSpec(step=0.4)  # beta, gamma in {1.0, 1.4}: three points
    candidates = build_candidates(load_space("resnet18"), grid)
    assert candidates[0].role == "baseline" and candidates[0].measured_ratio == 1.0
    points = candidates[1:]
    assert {(c.beta, c.gamma) for c in points} == {(1.0, 1.0), (1.0, 1.4), (1.4, 1.0)}
    for c in points:
        assert c.alpha >= 1.0
        assert c.feasible == (abs(c.measured_ratio - 2.0) <= 0.1)
        assert c.nominal_ratio == pytest.approx(c.alpha * c.beta**2 * c.gamma**2)
    depth_only = next(c for c in points if (c.beta, c.gamma) == (1.0, 1.0))
    assert depth_only.feasible and 1.5 <= depth_only.alpha <= 2.0


def test_3d_candidates_mark_measured_outliers_infeasible():
    grid = GridSpec(shape="3d", step=0.1)
    candidates = build_candidates(load_space("resnet18"), grid)[1:]
    assert len(candidates) == 21  # nominal product within 0.1 of 2 on the 0.1 grid
    assert all(abs(c.nominal_ratio - 2) <= 0.1 + 1e-9 for c in candidates)
    assert all(c.feasible == (abs(c.measured_ratio - 2) <= 0.1) for c in candidates)
    assert 0 < sum(c.feasible for c in candidates) < len(candidates)  # rounding moves some out


@pytest.mark.parametrize("kwargs, fragment", [
    ({"low": 0.8}, "low 0.8"),
    ({"high": 0.9}, "high 0.9 is below low"),
    ({"step": 0}, "step"),
    ({"shape": "4d"}, "grid must be 2d or 3d"),
    ({"target": 1.0}, "target 1.0"),
])
def test_bad_grid_settings(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        GridSpec(**kwargs)


def test_empty_feasible_set_says_what_to_relax():
    with pytest.raises(UserError, match="relax tolerance"):
        build_candidates(load_space("resnet18"), GridSpec(shape="3d", step=0.5, tolerance=0.01))
