"""calibrate: the bracket, the networks, dropping a failing recipe, the choice, the recipe file, --proxy."""

from __future__ import annotations

import math
import random

import pytest
import yaml

from scalesearch import calibrate
from scalesearch.calibrate import CalibrateError, CalibrateRequest, Recipe, choose, run_calibrate
from scalesearch.requests import BudgetChoice, DataChoice, compose, proxy_budget
from scalesearch.spec.spaces import load_space, read_recipe
from scalesearch.training.budget import ProxyBudget
from tests.tiny import DATA, ds_space, write_space

TINY = ds_space("{resolution: 16, epochs: 2, train_images: 256, batch_size: 64, lr: 0.4}", "grid: {step: 0.2}\n")


@pytest.fixture
def tiny(tmp_path):
    return write_space(tmp_path, TINY)


def request(tmp_path, space, **changes) -> CalibrateRequest:
    values = dict(baseline=str(space), out=tmp_path / "cal", data="synthetic", val_images=200, device="cpu")
    values.update(changes)
    return compose(CalibrateRequest, values)


class FakeTrainer:
    """The widest network blows up at lr >= 0.2; noise sd shrinks with the lr, accuracy too."""

    def __init__(self):
        self.calls: list[str] = []

    def __call__(self, setup, cell, seed_index):
        key = f"{cell.key}/seed{seed_index}"
        self.calls.append(key)
        lr = cell.recipe.lr
        record = {"key": key, "recipe": cell.recipe.key, "network": cell.network.name, "seed_index": seed_index,
                  "status": "ok", "message": "", "first_loss": 2.0, "seconds": 1.0}
        if cell.network.name.startswith("widest") and lr >= 0.2:
            return {**record, "status": "failed-to-train", "val_accuracy": 0.1, "first_loss": 6.0,
                    "message": "blew up: first-epoch mean loss 6.00 > 1.5 x ln 10 = 3.45"}
        noise = random.Random(key).gauss(0, 0.02 if lr >= 0.1 else 0.002)
        return {**record, "val_accuracy": 0.5 + lr + 0.01 * len(cell.network.name) % 3 + noise}


def test_the_default_bracket_and_networks_come_from_the_space(tmp_path, tiny):
    space = load_space(str(tiny))
    base = ProxyBudget.for_space(space.proxy)
    recipes = calibrate.bracket(request(tmp_path, tiny), base)
    assert [(r.lr, r.warmup, r.readout_fan_in) for r in recipes] == [
        (0.4, 0.125, 0), (0.4, 0.3333, 0), (0.2, 0.125, 0), (0.2, 0.3333, 0), (0.1, 0.125, 0), (0.1, 0.3333, 0)]
    assert recipes[1].settings(base.epochs) == {"lr": 0.4, "warmup_epochs": 0.6666, "readout_fan_in": 0}
    names = [n.name for n in calibrate.networks(space, table3=True)]
    assert names[0] == "baseline" and [n.split()[0] for n in names[1:4]] == ["deepest", "widest", "sharpest"]
    assert names[4:] == ["table3 depth (d 4, w 1, r 1)", "table3 width (d 1, w 2, r 1)",
                         "table3 resolution (d 1, w 1, r 2)", "table3 compound (d 1.4, w 1.2, r 1.3)"]
    # A built-in network gets the variants the paper compares for it: MobileNetV1 has no depth cell.
    v1 = [n.name.split()[1] for n in calibrate.networks(load_space("mobilenetv1"), table3=True) if n.name.startswith("table3")]
    assert v1 == ["width", "resolution", "compound"]
    from scalesearch.search.candidates import GridSpec, build_candidates

    deepest = calibrate.networks(space, table3=False)[1]
    landed = max((c for c in build_candidates(space, GridSpec.from_space(space)) if c.feasible and c.role == "candidate"),
                 key=lambda c: c.depth)
    assert deepest.variant == landed.variant(space)  # the grid's own phi = 1 member, as the grid trains it


def test_calibrate_picks_a_recipe_under_which_every_network_trains(tmp_path, tiny):
    trainer = FakeTrainer()
    doc = run_calibrate(request(tmp_path, tiny, lrs="0.4,0.2,0.1,0.05", warmups="0.25"), train_one=trainer)
    rows = {r["recipe"]: r for r in doc["recipes"]}
    # A recipe that blew the widest network up is dropped at that unit: nothing after it, no seed 1.
    assert not rows["lr0.4-warm0.25-readout0"]["passed"] and "widest" in rows["lr0.4-warm0.25-readout0"]["failure"]
    assert not [c for c in trainer.calls if c.startswith("lr0.4") and ("sharpest" in c or "seed1" in c)]
    assert rows["lr0.1-warm0.25-readout0"]["passed"] and rows["lr0.05-warm0.25-readout0"]["passed"]
    # lr 0.05 is steadier beyond noise here (sd 0.2 against 2 points): it is chosen.
    assert doc["chosen"] == "lr0.05-warm0.25-readout0"
    chosen = rows[doc["chosen"]]
    assert all(s == "ok" for c in chosen["cells"] for s in c["status"]) and len(chosen["cells"]) == 4
    assert doc["outcome"].startswith("peak lr 0.05, warm-up 25% of the steps: every network trained")

    recipe = read_recipe(tmp_path / "cal" / "proxy.yaml")
    assert recipe["lr"] == 0.05 and recipe["warmup_epochs"] == 0.5 and recipe["resolution"] == 16
    assert recipe["calibrated"].startswith("20") and "4 recipes x 4 networks x 2 seeds" in recipe["calibrated"]
    budget = proxy_budget(load_space(str(tiny)).proxy, DataChoice(), BudgetChoice(proxy=recipe, epochs=3))
    assert budget.lr == 0.05 and budget.warmup_epochs == 0.5 and budget.epochs == 3  # --epochs still on top

    again = FakeTrainer()
    assert run_calibrate(request(tmp_path, tiny, lrs="0.4,0.2,0.1,0.05", warmups="0.25"), train_one=again)["chosen"] \
        == doc["chosen"]
    assert again.calls == []  # resumed: every unit was in units.jsonl


def _row(name, sd, mean, df=3):
    return {"recipe": name, "passed": True, "noise_sd": sd, "noise_df": df, "mean_accuracy": mean}


def test_within_noise_of_the_steadiest_the_best_trained_wins():
    # 2.5 vs 4.5 points on 3 df each: F = 3.2, p = 0.18 -> alike; the better-trained one is chosen.
    assert choose([_row("low-lr", 0.025, 0.29), _row("high-lr", 0.045, 0.43)])["recipe"] == "high-lr"
    # 0.5 vs 4.5 points: beyond noise, the steady one wins although it learned less.
    assert choose([_row("low-lr", 0.005, 0.29), _row("high-lr", 0.045, 0.43)])["recipe"] == "low-lr"
    assert choose([{**_row("failed", 0.01, 0.9), "passed": False}]) is None


def test_no_recipe_that_trains_everything_writes_no_file(tmp_path, tiny):
    doc = run_calibrate(request(tmp_path, tiny, lrs="0.4,0.2", warmups="0.25"), train_one=FakeTrainer())
    assert doc["chosen"] is None and not (tmp_path / "cal" / "proxy.yaml").exists()
    assert doc["outcome"].startswith("No recipe of the 2 tried trains every network of tiny")
    assert "widen the bracket" in doc["outcome"]


@pytest.mark.parametrize("changes, message", [
    ({"seeds": 1}, "seeds"), ({"lr": 0.1}, "lr is what calibrate chooses"),
    ({"lrs": "fast"}, "cannot read"), ({"lrs": "0"}, "between"), ({"warmups": "2"}, "between"),
])
def test_bad_input_is_one_line(tmp_path, tiny, changes, message):
    with pytest.raises(CalibrateError, match=message):
        run_calibrate(request(tmp_path, tiny, **changes), train_one=FakeTrainer())
    assert not (tmp_path / "cal").exists()


def test_a_recipe_file_is_checked_and_may_not_move_the_resolution(tmp_path, tiny):
    from scalesearch.errors import UserError

    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"proxy": {"lr": -1}}))
    with pytest.raises(UserError, match="proxy.lr: must be a positive number"):
        read_recipe(bad)
    bad.write_text("lr: 0.1\n")
    with pytest.raises(UserError, match="expected a mapping with a 'proxy' field"):
        read_recipe(bad)
    with pytest.raises(UserError, match="no such file"):
        read_recipe(tmp_path / "missing.yaml")
    with pytest.raises(UserError, match="resolution 32 is not the space's base resolution 16"):
        proxy_budget(load_space(str(tiny)).proxy, DataChoice(), BudgetChoice(proxy={"resolution": 32}))


# A deep plain network (13 depthwise-separable blocks, no skip connection) with a wide last
# layer, whose space's own recipe (lr 0.4) blows every training up in its first epoch.
PLAIN = """
network:
  name: plain
  resolution: 32
  activation: relu
  stem: {channels: 16, kernel: 3, stride: 2}
  stages: [ds_r6_k3_s1_c32, ds_r6_k3_s2_c64, ds_r1_k3_s1_c1024]
  head: {channels: 0}
proxy: {resolution: 16, epochs: 2, train_images: 1024, batch_size: 64, lr: 0.4}
grid: {step: 0.2}
"""


@pytest.mark.slow
def test_a_plain_cnn_the_default_recipe_blows_up_is_flagged_calibrated_and_searched(cli, tmp_path):
    """End to end on small real data: grid flags every unit, calibrate finds a recipe, grid with it ranks."""
    import json

    space = write_space(tmp_path, PLAIN, "plain.yaml")
    common = ["--data", DATA, "--val-images", "500", "--format", "json"]
    flagged = cli("grid", "-b", space, "--out", tmp_path / "before", "--seeds", "1", *common)
    assert flagged.exit_code == 0, flagged.output
    before = json.loads(flagged.stdout)
    assert before["failed_to_train"]["units"] == before["failed_to_train"]["of"] == 6
    assert "this proxy cannot rank these points" in before["outcome"] and "calibrate --baseline" in before["outcome"]
    assert "was never calibrated" in flagged.stderr

    calibrated = cli("calibrate", "-b", space, "--out", tmp_path / "cal", "--lrs", "0.4,0.1", "--readouts", "0,128",
                     "--warmups", "0.25", *common)
    assert calibrated.exit_code == 0, calibrated.output
    doc = json.loads(calibrated.stdout)
    assert doc["chosen"] and doc["chosen"].endswith("readout128"), doc["outcome"]
    assert not next(r for r in doc["recipes"] if r["recipe"] == "lr0.4-warm0.25-readout0")["passed"]

    searched = cli("grid", "-b", space, "--proxy", tmp_path / "cal" / "proxy.yaml", "--out", tmp_path / "after",
                   "--seeds", "2", *common)
    assert searched.exit_code == 0, searched.output
    after = json.loads(searched.stdout)
    assert after["failed_to_train"]["units"] == 0 and after["complete"] and "alpha" in after
    assert "was never calibrated" not in searched.stderr
    assert (tmp_path / "cal" / "report.md").read_text().count("|") > 10
