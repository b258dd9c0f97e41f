"""The proxy-noise benchmark (issue 25): its dry run runs every step, and its statistics
give known answers on constructed data."""

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO))
from benchmarks import proxy_noise  # noqa: E402


@pytest.mark.slow
def test_the_dry_run_trains_scores_and_prints_the_table(tmp_path):
    out = tmp_path / "noise.jsonl"
    done = subprocess.run([sys.executable, "benchmarks/proxy_noise.py", "--dry-run", "--out", str(out),
                           "--points", "1:1:1.4,1.389:1:1.2", "--seeds", "0-1", "--weights", "last,ema,mean"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["weights"] for r in records} == {"last", "ema", "mean"} and len(records) == 3 * 2 * 3
    assert "CPU:" in done.stdout.splitlines()[0]
    assert "| base | ema | 400 | 6 | 2 |" in done.stdout  # 6 units, 2 grid points ranked
    # A second run skips what the file holds: pieces add up.
    again = subprocess.run([sys.executable, "benchmarks/proxy_noise.py", "--dry-run", "--out", str(out),
                            "--points", "1:1:1.4,1.389:1:1.2", "--seeds", "0-1", "--weights", "last,ema,mean"],
                           cwd=REPO, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and len(out.read_text().splitlines()) == len(records)


def test_an_unknown_recipe_is_refused():
    with pytest.raises(SystemExit):
        proxy_noise.parse_args(["--recipes", "base,longer"])


def test_shared_split_variance_is_zero_for_identical_networks_and_binomial_for_independent_ones():
    rng = np.random.default_rng(0)
    same = rng.random(20000) < 0.7
    assert proxy_noise.shared_split_variance({"a": same, "b": same, "c": same}) == 0.0
    independent = {p: rng.random(20000) < 0.7 for p in "abc"}
    binomial = 0.7 * 0.3 / 20000
    assert proxy_noise.shared_split_variance(independent) == pytest.approx(binomial, rel=0.05)


def test_the_noise_row_recovers_a_known_residual_sd():
    """Units whose accuracies are point + seed + N(0, 2 points): the two-way sd comes back near 2."""
    rng = np.random.default_rng(1)
    units = []
    n = 4000
    for seed in range(12):
        shift = rng.normal(0, 3)
        for point, mu in (("baseline", 70.0), ("b", 72.0), ("c", 68.0)):
            acc = (mu + shift + rng.normal(0, 2)) / 100
            correct = np.zeros(n, dtype=bool)
            correct[:round(acc * n)] = True
            units.append({"point": point, "seed": seed, "images": n, "correct": proxy_noise._pack(
                __import__("torch").from_numpy(correct)), "train_seconds": 10.0, "bn_seconds": 1.0,
                "eval_seconds_per_image": 0.001})
    row = proxy_noise.noise_row(units, n)
    assert 1.3 < row["residual_sd"] < 2.7 and row["df"] == 11 and row["points"] == 2  # the baseline is in no ranking
    assert row["seconds"] == pytest.approx(15.0) and row["sd_root_s"] == pytest.approx(row["residual_sd"] * 15 ** 0.5)
    assert row["val_shared"] < 0.5  # every point right on the same first images: the split is shared


def _units(means: dict, seeds: int, sd: float, recipe: str, rng, n: int = 4000) -> list[dict]:
    """Units of `recipe` whose accuracies are the point's mean + a seed shift + N(0, sd)."""
    units = []
    for seed in range(seeds):
        shift = rng.normal(0, 1)
        for point, mu in means.items():
            correct = np.zeros(n, dtype=bool)
            correct[:round((mu + shift + rng.normal(0, sd)) / 100 * n)] = True
            units.append({"point": point, "seed": seed, "images": n, "recipe": recipe, "weights": "last",
                          "status": "ok", "baseline": "toy",
                          "correct": proxy_noise._pack(__import__("torch").from_numpy(correct))})
    return units


def test_faithfulness_tells_the_longer_trainings_order_from_its_reverse():
    rng = np.random.default_rng(3)
    long_means = {"baseline": 60.0, **{f"p{i}": 70.0 + 2 * i for i in range(6)}}
    reverse = {"baseline": 60.0, **{f"p{i}": 80.0 - 2 * i for i in range(6)}}
    reference = _units(long_means, 3, 0.3, "4x", rng)
    same = proxy_noise.faithfulness_row(_units(long_means, 3, 0.3, "base", rng), reference, 4000)
    flipped = proxy_noise.faithfulness_row(_units(reverse, 3, 0.3, "base", rng), reference, 4000)
    assert same["points"] == 6 and same["seeds"] == 3  # the baseline is not ranked
    assert same["tau"] > 0.8 and same["share_at_most"] > 0.05 and same["ref_best_rank"] == 1
    assert flipped["tau"] < -0.8 and flipped["share_at_most"] < 0.01 and flipped["ref_best_rank"] == 6
    table = proxy_noise.faithfulness_table(reference + _units(long_means, 3, 0.3, "base", rng), 4000)
    assert "| base | last | 6 | 3 |" in table and "| 4x |" not in table


def test_recorded_recipes_keep_the_learning_rate_they_were_measured_at():
    """The recorded units were trained at lr 0.1 (lr0.05 at 0.05); the spaces' own proxies
    now train at 0.05, so a recipe that fell back on the space would change meaning."""
    assert {name: recipe["lr"] for name, recipe in proxy_noise.RECIPES.items()} == {
        name: 0.05 if name == "lr0.05" else 0.1 for name in proxy_noise.RECIPES}


@pytest.mark.parametrize("baseline", ["efficientnet-b0", "mobilenetv2"])
def test_recorded_points_stay_the_step_01_grids_whatever_the_spaces_step(baseline):
    """The recorded units are (1.389, 1, 1.2) and friends, from the step-0.1 grid; the spaces
    now default to 0.15, whose nearest point to (1.389, 1, 1.2) is (1.512, 1, 1.15)."""
    from scalesearch.spec.spaces import load_space
    chosen = proxy_noise.pick_candidates(load_space(baseline), proxy_noise.parse_points("1.389:1:1.2,1:1.4:1"))
    assert [(round(c.alpha, 3), c.beta, c.gamma) for c in chosen[1:]] == [(1.389, 1.0, 1.2), (1.0, 1.4, 1.0)]
