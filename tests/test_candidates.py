"""Grid candidates keep both promises — the law (alpha beta^2 gamma^2 = target) and a fair
phi = 1 cost — by training the family's own phi = 1 member (the one landing rule), scaling
up or down."""

import json
import math

import optuna
import pytest

from scalesearch.errors import UserError
from scalesearch.family import place_member, plan_family
from scalesearch.costs.variant import Variant
from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.search.study import suggest_params
from scalesearch.spec.scaling import Coefficients
from scalesearch.spec.spaces import load_space

BUILTINS = ["efficientnet-b0", "mobilenetv1", "mobilenetv2", "resnet18", "resnet50"]


@pytest.mark.parametrize("baseline, points", [("efficientnet-b0", 6), ("mobilenetv2", 6), ("resnet50", 12)])
def test_every_feasible_candidate_keeps_the_law_and_trains_at_twice_the_cost(baseline, points):
    space = load_space(baseline)
    grid = GridSpec.from_space(space)
    candidates = build_candidates(space, grid)
    base = Variant(space).cost().flops  # fvcore, not the analytic twin the solver used
    feasible = [c for c in candidates[1:] if c.feasible]
    # the default grid (step 0.15 for the two whose step 0.1 tied, 0.1 for the rest): every point lands
    assert len(feasible) == len(candidates) - 1 == points
    for c in feasible:
        assert c.nominal_ratio == pytest.approx(c.alpha * c.beta**2 * c.gamma**2)
        assert abs(c.nominal_ratio / 2 - 1) <= 0.02 + 1e-9, c  # the law
        measured = c.variant(space).cost().flops / base
        assert abs(measured / 2 - 1) <= 0.02, (c, measured)  # what is trained costs 2x
        assert measured == pytest.approx(c.measured_ratio, rel=1e-9)


def test_each_point_trains_its_familys_phi1_member_not_the_rounded_coefficients():
    space = load_space("efficientnet-b0")
    candidates = build_candidates(space, GridSpec())
    # Issue 25's example: (1.389, 1, 1.2) used to be trained at depth 1.389 and 238 px
    # (its rounded network, 2.55x, with resolution corrected down); the family's phi = 1
    # member is depth 1.263 at 255 px, (alpha, beta, gamma)^0.71.
    c = next(c for c in candidates if (c.beta, c.gamma) == (1.0, 1.2))
    assert c.alpha == pytest.approx(2 / 1.2**2, abs=1e-6) and c.raw_ratio > 2.4
    assert (c.t, c.resolution, round(c.depth, 3), c.width) == (0.71, 255, 1.263, 1.0)
    assert c.correction == "t = 0.71" and c.measured_ratio == pytest.approx(2.005, abs=1e-3)
    # Where alpha = 1 keeps the law within its band, alpha is 1: 1.02 would add a block to
    # every one-block stage at any t > 0, and resolution alone would not be resolution alone.
    resolution_only = next(c for c in candidates if (c.beta, c.gamma) == (1.0, 1.4))
    assert resolution_only.alpha == 1.0 and resolution_only.depth == 1.0 and resolution_only.width == 1.0
    assert resolution_only.nominal_ratio == pytest.approx(1.96)


def _grid_dir(directory, space, grid, c):
    """A best.json naming point c, as `grid` writes it (what `expand --from` reads)."""
    directory.mkdir()
    (directory / "best.json").write_text(json.dumps({
        "baseline": space.name, "alpha": c.alpha, "beta": c.beta, "gamma": c.gamma,
        "target": grid.target, "tolerance": grid.tolerance, "cost": grid.cost}))
    return directory


def _network(variant):
    return variant.depth, variant.width, variant.resolution, variant.dropout


@pytest.mark.parametrize("baseline", BUILTINS)
def test_every_grid_point_trains_exactly_the_member_expand_emits(tmp_path, baseline):
    """Issue 25's acceptance: each feasible point's trained phi = 1 network is expand's member.

    `expand --from GRID` (growth = the grid's target) gives it for every point; `expand
    --alpha A --beta B --gamma G --phi 1` (growth = their product) for every point whose
    product is the target — all but the single-dimension points whose alpha was set to 1
    within the law's band (product 1.96: their own family grows 1.96x per phi)."""
    space = load_space(baseline)
    grid = GridSpec.from_space(space)
    candidates = build_candidates(space, grid)[1:]
    feasible = [c for c in candidates if c.feasible]
    assert len(feasible) == len(candidates) >= 6  # every point of the default grid lands
    for c in feasible:
        given = plan_family(space, (1.0,), alpha=c.alpha, beta=c.beta, gamma=c.gamma)
        from_grid = plan_family(space, (1.0,), from_dir=_grid_dir(tmp_path / f"g{c.index}", space, grid, c))
        assert _network(place_member(space, from_grid, from_grid.members[0])[0]) == _network(c.variant(space)), c
        if round(c.nominal_ratio, 4) == grid.target:
            variant, target, t, _ = place_member(space, given, given.members[0])
            assert (_network(variant), t, target) == (_network(c.variant(space)), c.t, grid.target), c
        else:
            assert c.alpha == 1.0 and abs(c.nominal_ratio / grid.target - 1) <= grid.tolerance + 1e-9, c
        assert abs(c.measured_ratio / grid.target - 1) <= grid.tolerance


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


@pytest.mark.parametrize("baseline", ["efficientnet-b0", "resnet18"])
def test_a_down_scaling_grid_keeps_the_law_and_lands_on_its_target(tmp_path, baseline):
    space = load_space(baseline)
    grid = GridSpec.from_space(space, target=0.5, step=0.1)
    assert (grid.down, grid.low, grid.high) == (True, 0.5, 1.0)
    candidates = build_candidates(space, grid)[1:]
    # Depth, width and resolution alone are among them (alpha 1 within the band: product 0.49).
    assert {(c.alpha, c.beta, c.gamma) for c in candidates} >= {(0.5, 1.0, 1.0), (1.0, 0.7, 1.0), (1.0, 1.0, 0.7)}
    assert len(candidates) == 10 and all(c.feasible for c in candidates)
    base = Variant(space).cost().flops
    for c in candidates:
        assert 0.5 <= min(c.alpha, c.beta, c.gamma) and max(c.alpha, c.beta, c.gamma) <= 1.0, c
        assert abs(c.nominal_ratio / 0.5 - 1) <= grid.tolerance + 1e-9, c  # the law
        assert abs(c.measured_ratio / 0.5 - 1) <= grid.tolerance, c  # lands on 0.5x
        plan = plan_family(space, (1.0,), from_dir=_grid_dir(tmp_path / f"g{c.index}", space, grid, c))
        assert _network(place_member(space, plan, plan.members[0])[0]) == _network(c.variant(space)), c
    for c in candidates[::4]:  # fvcore agrees with the analytic count the landing used
        assert abs(c.variant(space).cost().flops / base / 0.5 - 1) <= grid.tolerance, c


def test_a_down_scaling_3d_grid_stays_within_low_and_one():
    candidates = build_candidates(load_space("resnet18"), GridSpec(shape="3d", step=0.1, target=0.5))[1:]
    assert candidates and all(0.5 <= min(c.alpha, c.beta, c.gamma) and max(c.alpha, c.beta, c.gamma) <= 1
                              and abs(c.nominal_ratio / 0.5 - 1) <= 0.02 + 1e-9 for c in candidates)
    assert Coefficients(0.5, 1.0, 1.0) in {c.coefficients for c in candidates}


@pytest.mark.parametrize("target", [2.0, 0.5])
def test_a_model_based_sampler_proposes_on_the_grids_own_lattice(target):
    grid = GridSpec(target=target)
    points = {(c.beta, c.gamma) for c in build_candidates(load_space("resnet18"), grid)[1:]}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    proposed = set()
    for _ in range(60):
        values = suggest_params(study.ask(), grid)
        proposed.add((values["beta"], values["gamma"]))
    lattice = {round(1 + k * 0.1 * (1 if target > 1 else -1), 6) for k in range(11 if target > 1 else 6)}
    assert {v for pair in proposed for v in pair} <= lattice
    assert points & proposed  # a proposal names a candidate exactly


@pytest.mark.parametrize("kwargs, fragment", [
    ({"low": 0.8}, "low 0.8"),
    ({"target": 0.5, "high": 1.2}, "high 1.2: a down-scaling grid"),
    ({"target": 0.5, "low": 1.0}, "low 1.0: a down-scaling grid"),
    ({"targets": (0.5, 2.0)}, "every one below 1"),
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


def test_a_down_scaling_grids_surface_fit_searches_its_own_range():
    from scalesearch.stats.surface import fit_surface

    grid = GridSpec(target=0.5)
    points = [c for c in build_candidates(load_space("resnet18"), grid)[1:]]

    def truth(b, g):  # a quadratic in (log beta, log gamma) peaking inside the down grid's range
        return 0.8 - 2 * math.log(b / 0.85) ** 2 - 2 * math.log(g / 0.9) ** 2

    fit = fit_surface([(c.beta, c.gamma, truth(c.beta, c.gamma), 3) for c in points], 0.5, grid.low, noise_sd=0.003)
    assert (fit.beta, fit.gamma) == pytest.approx((0.85, 0.9), abs=0.006) and fit.recommended, fit.reason
    assert 0.5 <= fit.alpha <= 1


@pytest.mark.parametrize("args, message", [
    (("--target", "0.5", "--high", "1.2"), "--high 1.2: a down-scaling grid"),
    (("--target", "1"), "--target 1.0: the phi = 1 cost multiple must be at least 1.05"),
    (("--target", "1.02"), "within 5% of 1 only the baseline itself is on the law"),
    (("--target", "5000"), "(scale up, at most 1000)"),
    (("--low", "0.8"), "--low 0.8: coefficients below 1 shrink the network"),
])
def test_grid_refuses_a_wrong_direction_in_one_line(cli, tmp_path, args, message):
    result = cli("grid", "-b", "resnet18", *args, "--out", tmp_path / "run")
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
