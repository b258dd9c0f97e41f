"""transfer core: Kendall's tau, which points, the verdict (holds / does not / undecided), resume."""

from __future__ import annotations

import json
import math
import random

import pandas as pd
import pytest

from scalesearch import transfer
from scalesearch.errors import UserError
from scalesearch.report.registry import rebuild
from scalesearch.requests import compose
from scalesearch.runs.compare_units import unit_key
from scalesearch.files import write_atomic, write_json
from scalesearch.runs.grid_tables import UNIT_COLUMNS
from scalesearch.runs.run_dir import RunInfo, claim_run_dir, finish_run
from scalesearch.search.candidates import GridSpec
from scalesearch.stats.rank_agreement import kendall_tau, rank_agreement
from scalesearch.stats.ranking import rank
from scalesearch.search.study import SearchConfig
from scalesearch.spec.scaling import Coefficients
from scalesearch.spec.spaces import load_space
from scalesearch.training.budget import ProxyBudget
from scalesearch.transfer import TransferRequest, choose_points, is_single_dimension, run_transfer
from tests.test_compare import TINY
from tests.tiny import write_space

# -- Kendall's tau ----------------------------------------------------------------------------


@pytest.mark.parametrize("a, b, expected", [
    ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
    ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
    ([1, 2, 3], [2, 3, 1], -1 / 3),  # one concordant pair, two discordant
    ([1, 2, 3, 4], [1, 3, 2, 4], 4 / 6),
    ([1, 1, 2], [1, 2, 3], 2 / math.sqrt(2 * 3)),  # tau-b: a tie on one side
])
def test_kendall_tau_b(a, b, expected):
    assert kendall_tau(a, b) == pytest.approx(expected)


def test_kendall_tau_is_undefined_without_order():
    assert math.isnan(kendall_tau([1.0], [2.0]))
    assert math.isnan(kendall_tau([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1])


def test_tau_is_set_beside_what_perfect_transfer_gives_at_the_noise():
    import numpy as np

    means = [0.8, 0.7, 0.6, 0.5]
    rng = np.random.default_rng(0)
    quiet = rank_agreement(means, means, means, rng.normal(0, 0.001, (2000, 4)), rng.normal(0, 0.001, (2000, 4)))
    noisy = rank_agreement(means, means, means, rng.normal(0, 0.2, (2000, 4)), rng.normal(0, 0.2, (2000, 4)))
    assert quiet.tau == noisy.tau == 1.0
    assert quiet.low == quiet.high == 1.0 and quiet.share_at_most == 1.0
    assert noisy.low < 0.5 and noisy.high == 1.0  # noise alone scrambles a perfect transfer's order
    reversed_ = rank_agreement(means, means[::-1], means, rng.normal(0, 0.001, (2000, 4)),
                               rng.normal(0, 0.001, (2000, 4)))
    assert reversed_.tau == -1.0 and reversed_.share_at_most == 0.0  # no perfect transfer looks like this
    unknown = rank_agreement(means, means, means, None, rng.normal(0, 0.1, (2000, 4)))
    assert unknown.tau == 1.0 and not unknown.known


# -- a grid run directory, as `scalesearch grid` leaves it ----------------------------------------

# phi = 1 means of a made-up grid: (1.3, 1.1, 1.1) wins; three near single-dimension points.
GRID = {(1.3, 1.1, 1.1): 0.80, (1.0, 1.0, 1.4): 0.78, (1.0, 1.4, 1.0): 0.76, (1.1, 1.2, 1.1): 0.74,
        (2.0, 1.0, 1.0): 0.70}
W, P2, P3, P4, P5 = ("(1.3, 1.1, 1.1)", "(1, 1, 1.4)", "(1, 1.4, 1)", "(1.1, 1.2, 1.1)", "(2, 1, 1)")
PAPER = "(1.2, 1.1, 1.15)"


def noisy(mean: float, name: str, seed: int, own: float = 0.002) -> float:
    """mean + what seed `seed` does to every point alike + the training's own noise."""
    return mean + random.Random(f"seed{seed}").gauss(0, 0.01) + random.Random(f"{name}/{seed}").gauss(0, own)


def write_grid(root, space, means=GRID, seeds=3, finished=True):
    budget = ProxyBudget.for_space(space.proxy, epochs=1, train_images=256, batch_size=64, val_images=200)
    config = SearchConfig(baseline=space.name, grid=GridSpec(step=0.1), budget=budget, data="synthetic",
                          test_images=200)
    info = claim_run_dir(root, RunInfo(
        kind="grid", baseline=space.name, space=space.identity, results="best.json",
        request={"baseline": space.source, "data_dir": None}, command="scalesearch grid ...",
        identity={"study": "grid-tiny", "storage": f"journal:{root}/study.journal", **config.fingerprint(space)}))
    rows = [{"trial": 0, "point": 0, "seed": 0, "role": "baseline", "alpha": 1.0, "beta": 1.0, "gamma": 1.0,
             "state": "complete", "val_accuracy": 0.99}]
    for point, ((a, b, g), mean) in enumerate(means.items(), start=1):
        for s in range(seeds):
            rows.append({"trial": len(rows), "point": point, "seed": s, "role": "candidate", "alpha": a, "beta": b,
                         "gamma": g, "state": "complete", "val_accuracy": noisy(mean, f"{a}{b}{g}", s)})
    rows.append({"trial": len(rows), "point": 9, "seed": 0, "role": "candidate", "alpha": 1.5, "beta": 1.0,
                 "gamma": 1.15, "state": "pruned", "val_accuracy": 0.99})  # pruned: not a measurement
    write_atomic(root / "trials.csv", pd.DataFrame(rows, columns=UNIT_COLUMNS).to_csv(index=False))
    write_json(root / "best.json", {"outcome": "made up", "confidence": 0.9})
    if finished:
        finish_run(root, info)
    return root


@pytest.fixture
def tiny(tmp_path):
    return load_space(str(write_space(tmp_path, TINY)))


@pytest.fixture
def grid(tmp_path, tiny):
    return write_grid(tmp_path / "grid", tiny)


@pytest.fixture(autouse=True)
def no_estimate(monkeypatch):
    """The upfront estimate times real train steps: seconds a fake trainer does not need."""
    monkeypatch.setattr(transfer, "estimates", lambda setup, todo: {})


class FakeTrainer:
    """Validation accuracy = the point's mean at phi + a shared seed effect + its own noise."""

    def __init__(self, means: dict[str, float], own: float = 0.002, stop_after: int | None = None):
        self.means, self.own, self.stop_after = means, own, stop_after
        self.calls: list[str] = []
        self.epochs: set[int] = set()

    def __call__(self, setup, point, seed_index):
        if self.stop_after is not None and len(self.calls) == self.stop_after:
            raise KeyboardInterrupt  # Ctrl-C mid-run
        key = unit_key(point.key, seed_index)
        self.calls.append(key)
        self.epochs.add(setup.budget.epochs)
        accuracy = noisy(self.means[point.chosen.label], point.chosen.label, seed_index + 100, self.own)
        return {"key": key, "label": point.chosen.label, "seed_index": seed_index, "status": "ok",
                "val_accuracy": accuracy, "test_accuracy": accuracy, "images_per_second": 1.0, "seconds": 0.5}


def request(tmp_path, grid, **changes) -> TransferRequest:
    values = dict(from_dir=grid, phi=2.0, top=3, seeds=3, out=tmp_path / "transfer", device="cpu")
    values.update(changes)
    return compose(TransferRequest, values)


# -- which points -----------------------------------------------------------------------------

def test_points_are_the_top_k_the_paper_and_the_best_single_dimension(grid):
    from scalesearch.runs.grid_tables import read_finished_grid

    g = read_finished_grid(grid)
    assert len(g.observations) == 5 and all(len(s) == 3 for s in g.observations.values())  # baseline, pruned out
    ranking = rank(g.observations)
    picked = choose_points(ranking, g.coefficients, 1, 0.1, 0.02)
    assert [(c.label, c.roles) for c in picked] == [(W, ("top 1",)), (PAPER, ("paper",)),
                                                     (P2, ("best single-dimension",))]
    assert picked[1].coefficients == Coefficients(1.2, 1.1, 1.15)
    picked = choose_points(ranking, g.coefficients, 3, 0.1, 0.02)
    assert [(c.label, c.roles) for c in picked] == [(W, ("top 1",)), (P2, ("top 2", "best single-dimension")),
                                                     (P3, ("top 3",)), (PAPER, ("paper",))]
    # The paper's point, where the grid has it, keeps its phi = 1 measurements.
    with_paper = {**g.coefficients, PAPER: Coefficients(1.2, 1.1, 1.15)}
    ranked = rank({**g.observations, PAPER: {0: 0.9, 1: 0.9, 2: 0.9}})
    assert [c.label for c in choose_points(ranked, with_paper, 2, 0.1, 0.02)] == [PAPER, W, P2]


@pytest.mark.parametrize("c, step, single", [
    ((2.0, 1.0, 1.0), 0.1, True), ((1.02, 1.4, 1.0), 0.1, True), ((1.04, 1.0, 1.4), 0.1, True),
    ((1.0, 1.1, 1.3), 0.1, False), ((1.2, 1.1, 1.15), 0.05, False), ((1.0, 1.05, 1.35), 0.05, False),
])
def test_single_dimension_allows_the_bent_alpha_of_the_2d_grid(c, step, single):
    assert is_single_dimension(Coefficients(*c), step, 0.02) is single


# -- the verdicts -----------------------------------------------------------------------------

def test_the_phi1_choice_holds_when_the_order_survives(tmp_path, grid):
    trainer = FakeTrainer({W: 0.80, P2: 0.75, P3: 0.70, PAPER: 0.65})
    doc = run_transfer(request(tmp_path, grid), train_one=trainer)
    assert doc["verdict"]["outcome"] == "holds"
    assert doc["verdict"]["sentence"].startswith("the φ = 1 choice holds at φ = 2: (1.3, 1.1, 1.1) is still best")
    assert doc["tau"]["tau"] == pytest.approx(1.0) and doc["tau"]["labels"] == [W, P2, P3]
    assert doc["tau"]["low"] <= 1.0 and doc["tau"]["share_at_most"] == 1.0  # tau-hat 1: as perfect as it gets
    assert all(v["verdict"] == "beats" and v["low"] > 0 for v in doc["winner"]["versus"])
    assert "simultaneous interval, Dunnett with (1.3, 1.1, 1.1) as the control" in doc["verdict"]["sentence"]
    assert doc["winner"]["rank_phi"] == 1 and doc["winner"]["best_or_tied"] is True
    rows = {r["label"]: r for r in doc["points"]}
    assert rows[PAPER]["rank_phi1"] is None and rows[PAPER]["rank_phi"] == 4 and not rows[PAPER]["in_grid"]
    assert [rows[n]["rank_phi1"] for n in (W, P2, P3)] == [1, 2, 3]


def test_it_does_not_hold_when_the_winner_falls_beyond_noise(tmp_path, grid):
    trainer = FakeTrainer({W: 0.70, P2: 0.80, P3: 0.75, PAPER: 0.60})
    doc = run_transfer(request(tmp_path, grid), train_one=trainer)
    assert doc["verdict"]["outcome"] == "does not hold"
    assert doc["verdict"]["sentence"].startswith(
        "it does not: (1.3, 1.1, 1.1) falls from 1st to 3rd at φ = 2, beyond noise ((1, 1, 1.4) beats it by 9.")
    # phi = 1: W > P2 > P3; phi = 2: P2 > P3 > W — one pair of three in the same order.
    assert doc["tau"]["tau"] == pytest.approx(-1 / 3)
    assert doc["winner"]["separated_phi"] is True and doc["winner"]["best_or_tied"] is False


def test_undecided_when_the_winner_ties_for_best(tmp_path, grid):
    trainer = FakeTrainer({W: 0.75, P2: 0.75, P3: 0.75, PAPER: 0.75}, own=0.03)
    doc = run_transfer(request(tmp_path, grid), train_one=trainer)
    assert doc["verdict"]["outcome"] == "undecided"
    assert doc["verdict"]["sentence"].startswith("undecided at this budget: (1.3, 1.1, 1.1) is ")
    assert "tied with" in doc["verdict"]["sentence"] and "simultaneous intervals" in doc["verdict"]["sentence"]
    assert doc["winner"]["best_or_tied"] is True
    # At this noise perfect transfer itself often gives a tau this low: no evidence of a change.
    assert doc["tau"]["low"] < 1 and doc["tau"]["share_at_most"] > 0.1


def test_undecided_with_one_seed_and_no_range_for_tau(tmp_path, grid):
    doc = run_transfer(request(tmp_path, grid, seeds=1), train_one=FakeTrainer({W: 0.9, P2: 0.5, P3: 0.4, PAPER: 0.3}))
    assert doc["verdict"]["outcome"] == "undecided" and "one seed per point" in doc["verdict"]["sentence"]
    assert doc["tau"]["tau"] == pytest.approx(1.0) and math.isnan(doc["tau"]["low"])
    assert doc["winner"]["best_or_tied"] is None


def test_a_point_that_failed_to_train_at_phi_is_ranked_nowhere(tmp_path, grid):
    base = FakeTrainer({W: 0.90, P2: 0.80, P3: 0.70, PAPER: 0.60})

    def trainer(setup, point, seed_index):
        record = base(setup, point, seed_index)
        if point.chosen.label == P2 and seed_index == 2:  # one of P2's trainings blew up
            record.update(status="failed-to-train", val_accuracy=0.1,
                          message="blew up: first-epoch mean loss 5.00 > 1.5 x ln 10 = 3.45")
        return record

    doc = run_transfer(request(tmp_path, grid), train_one=trainer)
    row = next(r for r in doc["points"] if r["label"] == P2)
    # Its two healthy seeds are not ranked either: they would be the seeds the optimizer spared.
    assert row["failed_phi"] == 1 and row["mean_phi"] is None and row["rank_phi"] is None
    assert P2 not in doc["tau"]["labels"] and P2 not in doc["phi_ranking"]["contenders"]
    assert "1 of 12 trainings at φ = 2 failed to train (blew up: " in doc["verdict"]["sentence"]
    assert "scalesearch calibrate --baseline tiny" in doc["verdict"]["sentence"]


# -- the fidelity check: phi = 1, a longer budget ----------------------------------------------

def test_a_fidelity_check_retrains_the_contenders_and_a_spread_longer(tmp_path, grid):
    trainer = FakeTrainer({W: 0.80, P2: 0.76, P3: 0.74, P4: 0.72, P5: 0.70})
    doc = run_transfer(request(tmp_path, grid, phi=1.0, budget_scale=4.0, top=1, seeds=2), train_one=trainer)
    assert trainer.epochs == {4}  # the grid's 1 epoch x 4
    rows = {r["label"]: r for r in doc["points"]}
    assert rows[W]["roles"].startswith("top 1")
    assert P5 in rows and "spread: rank 5 of 5" in rows[P5]["roles"]  # the grid's lowest point too
    assert PAPER not in rows  # the paper's point answers phi > 1's question, not this one
    assert all(r["target_ratio"] == pytest.approx(2.0) and r["phi"] == 1.0 for r in doc["points"])
    assert doc["at"] == "φ = 1, 4× the grid's epochs" and doc["fidelity"] is True
    space = type("Space", (), {"name": "tiny"})()
    assert str(transfer.default_out(space, 1.0, 4.0)) == "runs/fidelity-tiny-x4"
    assert str(transfer.default_out(space, 2.0)) == "runs/transfer-tiny-phi2"


@pytest.mark.parametrize("means, outcome, start", [
    ({W: 0.80, P2: 0.75, P3: 0.70, P4: 0.65, P5: 0.60}, "holds",
     "the φ = 1 choice holds at φ = 1, 4× the grid's epochs: (1.3, 1.1, 1.1) is still best"),
    ({W: 0.70, P2: 0.80, P3: 0.75, P4: 0.65, P5: 0.60}, "does not hold",
     "it does not: (1.3, 1.1, 1.1) falls from 1st to 3rd at φ = 1, 4× the grid's epochs, beyond noise"),
    ({W: 0.75, P2: 0.75, P3: 0.75, P4: 0.75, P5: 0.75}, "undecided", "undecided at this budget"),
])
def test_a_fidelity_check_says_whether_the_proxys_answer_holds(tmp_path, grid, means, outcome, start):
    own = 0.03 if outcome == "undecided" else 0.002
    doc = run_transfer(request(tmp_path, grid, phi=1.0, budget_scale=4.0, seeds=3), train_one=FakeTrainer(means, own))
    assert doc["verdict"]["outcome"] == outcome and doc["verdict"]["sentence"].startswith(start)
    rebuild(tmp_path / "transfer")
    report = (tmp_path / "transfer" / "report.md").read_text()
    assert report.startswith("# Does the φ = 1 choice hold at φ = 1, 4× the grid's epochs? tiny")
    assert "Budget at φ = 1, 4× the grid's epochs: 4 epoch(s)" in report and "a fidelity check" in report


# -- the run ------------------------------------------------------------------------------------

def test_resume_after_an_interrupt_trains_only_what_is_missing(tmp_path, grid):
    means = {W: 0.80, P2: 0.75, P3: 0.70, PAPER: 0.65}
    with pytest.raises(KeyboardInterrupt):
        run_transfer(request(tmp_path, grid, seeds=2), train_one=FakeTrainer(means, stop_after=3))
    units = tmp_path / "transfer" / "units.jsonl"
    assert len(units.read_text().splitlines()) == 3

    second = FakeTrainer(means)
    doc = run_transfer(request(tmp_path, grid, seeds=2), train_one=second)
    assert len(second.calls) == 8 - 3 and second.calls[0] == f"phi2/{PAPER}/seed0"
    assert doc["units"] == {"done": 8, "wanted": 8}

    third = FakeTrainer(means)
    assert run_transfer(request(tmp_path, grid, seeds=2), train_one=third)["verdict"] == doc["verdict"]
    assert third.calls == []

    lines = units.read_text().splitlines()
    units.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:25])  # killed mid-write
    fourth = FakeTrainer(means)
    run_transfer(request(tmp_path, grid, seeds=3), train_one=fourth)  # one lost unit, then a third seed
    assert fourth.calls == [f"phi2/{PAPER}/seed1"] + [f"phi2/{n}/seed2" for n in (W, P2, P3, PAPER)]

    with pytest.raises(UserError, match="holds a transfer with a different configuration"):
        run_transfer(request(tmp_path, grid, budget_scale=2.0), train_one=FakeTrainer(means))
    run_json = json.loads((tmp_path / "transfer" / "run.json").read_text())
    assert run_json["kind"] == "transfer" and run_json["finished"] and run_json["identity"]["phi"] == 2.0


def test_budget_scale_grows_the_epochs_and_the_report_says_so(tmp_path, grid):
    trainer = FakeTrainer({W: 0.80, P2: 0.75, P3: 0.70, PAPER: 0.65})
    doc = run_transfer(request(tmp_path, grid, seeds=2, budget_scale=1.5), train_one=trainer)
    assert trainer.epochs == {2}  # 1 epoch x 1.5^2 = 2.25 -> 2
    assert doc["budgets"]["phi1"]["epochs"] == 1 and doc["budgets"]["phi"]["epochs"] == 2
    assert doc["budgets"]["phi"]["note"] == "the grid's budget, epochs 1 x 1.5^2 = 2.25 -> 2"
    rebuild(tmp_path / "transfer")
    report = (tmp_path / "transfer" / "report.md").read_text()
    assert "Budget at φ = 1 (the grid): 1 epoch(s) of 256 images" in report
    assert "Budget at φ = 2: 2 epoch(s) of 256 images" in report and "1.5^2 = 2.25 -> 2" in report


def test_members_land_on_the_grids_band_and_the_files_are_written(tmp_path, grid):
    doc = run_transfer(request(tmp_path, grid, seeds=2), train_one=FakeTrainer({W: 0.8, P2: 0.7, P3: 0.6, PAPER: 0.5}))
    for row in doc["points"]:
        assert row["target_ratio"] == pytest.approx(4.0) and row["phi"] == 2.0
        # This tiny net's cost moves in steps of 5-10% (stride 8, 8-channel layers): a member
        # the band cannot hold is said so, not hidden.
        assert row["within_tolerance"] == (abs(row["ratio_error"]) <= 0.02), row
        assert row["within_tolerance"] or "closest reachable" in row["adjustment"], row
    rows = {r["label"]: r for r in doc["points"]}
    assert rows[P2]["resolution"] > 64 and rows[P2]["proxy_resolution"] > 32  # r grown: the proxy grows too
    assert rows[P3]["proxy_resolution"] < rows[P2]["proxy_resolution"]  # width carried its growth
    out = tmp_path / "transfer"
    frame = pd.read_csv(out / "transfer.csv")
    assert list(frame["label"]) == [W, P2, P3, PAPER] and "rank_phi1" in frame.columns
    assert json.loads((out / "transfer.json").read_text())["verdict"] == doc["verdict"]
    written = rebuild(out)
    report = (out / "report.md").read_text()
    assert report.startswith("# Does the φ = 1 choice hold at φ = 2? tiny")
    assert "Verdict: the φ = 1 choice holds at φ = 2" in report and "Kendall's τ" in report
    assert (out / "figures" / "transfer-slope.png").is_file() and written["html"].is_file()


def test_grown_members_of_a_real_baseline_land_within_the_grids_band():
    from scalesearch.transfer import Chosen, grow

    source = type("Source", (), {"space": load_space("mobilenetv2"), "target": 2.0, "tolerance": 0.02, "cost": "flops"})()
    for c in [(1.0, 1.0, 1.4), (1.2, 1.1, 1.15), (2.0, 1.0, 1.0), (1.0, 1.4, 1.0)]:
        point = grow(source, Chosen(str(c), Coefficients(*c), ()), 2.0)
        assert point.within_tolerance and abs(point.member.flops_ratio / 4.0 - 1) <= 0.02, c
        assert point.member.t == pytest.approx(2.0, abs=0.4)  # moved along its own direction


# -- refusals ---------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"phi": 0.5}, "phi must be a number >= 1"), ({"phi": float("nan")}, "phi must be a number >= 1"),
    ({"phi": 1.0}, "phi 1 retrains the grid's own networks: give budget_scale > 1"),
    ({"top": 0}, "top must be a whole number >= 1"), ({"seeds": 0}, "seeds must be a whole number >= 1"),
    ({"budget_scale": 0.0}, "budget_scale must be a positive number"),
    ({"confidence": 1.0}, "confidence must be in"),
])
def test_bad_settings_are_refused(tmp_path, changes, message):
    with pytest.raises(UserError, match=message):
        request(tmp_path, tmp_path, **changes)


def test_refuses_what_is_not_a_finished_grid(tmp_path, tiny):
    with pytest.raises(UserError, match="from .*no such directory"):
        run_transfer(request(tmp_path, tmp_path / "missing"))
    other = tmp_path / "compare"
    claim_run_dir(other, RunInfo(kind="compare", baseline="tiny", space="x", request={}, results="compare.json"))
    with pytest.raises(UserError, match="holds a compare run, not a grid"):
        run_transfer(request(tmp_path, other))
    unfinished = write_grid(tmp_path / "unfinished", tiny, finished=False)
    with pytest.raises(UserError, match="the grid has not finished"):
        run_transfer(request(tmp_path, unfinished))
    (unfinished / "trials.csv").unlink()
    finish_run(unfinished, RunInfo(**{k: v for k, v in json.loads((unfinished / "run.json").read_text()).items()
                                      if k in RunInfo.__dataclass_fields__}))
    with pytest.raises(UserError, match="no trials.csv"):
        run_transfer(request(tmp_path, unfinished))
