"""compare core: target parsing, coefficient sources, FLOP matching, resume, the table."""

from __future__ import annotations

import json
import math

import pytest

from scalesearch import compare
from scalesearch.compare import (METHODS, PAPER_TABLE3, CompareError, CompareRequest, coefficients_from,
                                 parse_methods, parse_targets, plan_compare, run_compare)
from scalesearch.errors import UserError
from scalesearch.report.registry import rebuild
from scalesearch.requests import compose
from scalesearch.spec.scaling import PAPER_B0, Coefficients
from scalesearch.spec.spaces import load_space
from scalesearch.costs.variant import Variant
from tests.tiny import ds_space, write_space
from scalesearch.spec.presets import paper_table3


# -- parsing ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [("2x,4x", (2.0, 4.0)), ("2", (2.0,)), (" 3.5x ", (3.5,)),
                                            ("2x,2x,4X", (2.0, 4.0)), ("4x,2x", (4.0, 2.0))])
def test_parse_targets(text, expected):
    assert parse_targets(text) == expected


@pytest.mark.parametrize("text", ["", "x", "1x", "0.5x", "-2x", "two", "2x,", "nanx", "2x4"])
def test_parse_targets_refuses_with_a_hint(text):
    with pytest.raises(CompareError, match="e.g. 2x,4x"):
        parse_targets(text)


def test_parse_methods():
    assert parse_methods("compound, width,compound") == ("compound", "width")
    with pytest.raises(CompareError, match="width,depth,resolution,compound,fast"):
        parse_methods("width,height")


def test_coefficients_sources(tmp_path):
    assert coefficients_from(None, None, None, None, None)[0] == PAPER_B0
    assert coefficients_from(None, 1.3, 1.1, 1.1, None)[0] == Coefficients(1.3, 1.1, 1.1)
    (tmp_path / "best.json").write_text(json.dumps({"alpha": 1.4, "beta": 1.1, "gamma": 1.05, "val_accuracy": 0.9}))
    assert coefficients_from(str(tmp_path), None, None, None, None)[0] == Coefficients(1.4, 1.1, 1.05)
    with pytest.raises(UserError, match="go together"):
        coefficients_from(None, 1.2, None, None, None)
    with pytest.raises(UserError, match="exactly one coefficient source"):
        coefficients_from(str(tmp_path), 1.2, 1.1, 1.1, None)
    with pytest.raises(UserError, match="no best.json"):
        coefficients_from(str(tmp_path / "missing"), None, None, None, None)
    with pytest.raises(CompareError, match="preset must be one of"):
        coefficients_from(None, None, None, None, "papr")


# -- FLOP matching ---------------------------------------------------------------------

def test_solve_finds_the_closest_step_of_a_staircase(monkeypatch):
    """Depth by ceil makes cost a staircase: the solver must land on the nearest step."""
    space = load_space("mobilenetv1")
    # FLOPs grow in steps of 0.35x of the baseline per 0.25 of depth: 1.7, 2.05, 2.4, ...
    monkeypatch.setattr(Variant, "macs", lambda self: round(1000 * (1 + 0.35 * math.ceil(round((self.depth - 1) / 0.25, 9)))))
    setting = compare.method_setting("depth", PAPER_B0)
    value, ratio = compare.solve(space, setting, 2.0, 1000)
    assert ratio == pytest.approx(2.05)
    assert 1.5 < value <= 1.75 and value == round(value, 2)  # a readable d on that step


def test_fast_scaling_grows_flops_by_its_knob():
    # On a big network rounding is small: if the exponents did not add up to FLOPs
    # (e_d + 2 e_w + 2 e_r = 1), the solved knob s' would sit far from the target.
    space = load_space("resnet50")
    fast = next(p for p in plan_compare(space, (4.0,), ("fast",), PAPER_B0) if p.method == "fast")
    assert fast.knob == "s'" and fast.knob_value == pytest.approx(4.0, rel=0.12)  # 3.67: ceil adds blocks


@pytest.mark.parametrize("baseline", ["mobilenetv1", "mobilenetv2", "resnet50", "efficientnet-b0"])
def test_every_solved_variant_is_within_five_percent(baseline):
    space = load_space(baseline)
    plan = plan_compare(space, (2.0, 4.0), METHODS, PAPER_B0)
    base = Variant(space).macs()
    assert [p.method for p in plan] == ["baseline", *METHODS, *METHODS]
    for item in plan[1:]:
        measured = item.variant.macs() / base  # count_macs == fvcore's flops (tests/test_measure.py)
        assert measured == pytest.approx(item.cost_ratio)
        assert abs(measured / item.target - 1) <= compare.TOLERANCE, (item.key, measured)


def test_paper_table3_uses_the_published_settings(tiny):
    plan = plan_compare(tiny, (), ("width", "resolution", "compound"), PAPER_B0, preset="paper-table3")
    by_method = {p.method: p.variant for p in plan}
    assert (by_method["width"].depth, by_method["width"].width, by_method["width"].resolution_mult) == PAPER_TABLE3["width"]
    assert by_method["resolution"].resolution == 128
    assert (by_method["compound"].depth, by_method["compound"].width) == (1.4, 1.2)
    assert all(p.label in ("1x", "table3") for p in plan)


@pytest.mark.parametrize("baseline, methods", [
    ("mobilenetv1", ("width", "resolution", "compound")),  # the paper has no depth row: ours never trains
    ("resnet50", ("width", "depth", "resolution", "compound")),
    ("resnet18", ("width", "depth", "resolution", "compound")),  # not in the table: all four
])
def test_paper_table3_trains_the_rows_the_paper_has_for_the_network(tmp_path, baseline, methods):
    chosen = compare.Comparison.resolve(CompareRequest(baseline, tmp_path / "c", preset="paper-table3"))
    assert chosen.methods == methods
    asked = compare.Comparison.resolve(CompareRequest(baseline, tmp_path / "c", preset="paper-table3",
                                                      methods="depth,compound"))
    assert asked.methods == ("depth", "compound")  # asked for, trained


# -- resumable runs ----------------------------------------------------------------------

# A tiny user space: the same code paths as a built-in baseline, at a fraction of the cost.
TINY = ds_space("{resolution: 32, epochs: 1, train_images: 256, batch_size: 64, lr: 0.1}")


@pytest.fixture
def tiny(tmp_path):
    return load_space(str(write_space(tmp_path, TINY)))


class FakeTrainer:
    """Counts calls and returns a deterministic accuracy per method and seed."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, setup, item, seed_index):
        key = compare.unit_key(item.key, seed_index)
        self.calls.append(key)
        accuracy = 0.5 + 0.05 * (len(item.method) % 5) + 0.02 * seed_index
        return {"key": key, "label": item.label, "method": item.method, "seed_index": seed_index,
                "status": "ok", "val_accuracy": accuracy, "test_accuracy": accuracy - 0.01,
                "images_per_second": 100.0, "seconds": 1.0}


def request(tmp_path, space, **changes) -> CompareRequest:
    values = dict(baseline=space.source, out=tmp_path / "run", targets="2x",
                  methods="width,resolution", data="synthetic", val_images=200, train_images=256,
                  epochs=1, seeds=2, device="cpu")
    values.update(changes)
    return compose(CompareRequest, values)


@pytest.fixture
def no_estimate(monkeypatch):
    """The upfront estimate times a real train step: seconds the fake trainer does not need."""
    monkeypatch.setattr(compare, "estimates", lambda setup, todo: {})


def test_resume_skips_finished_units_and_refuses_another_configuration(tmp_path, tiny, no_estimate):
    trainer = FakeTrainer()
    rows = run_compare(request(tmp_path, tiny), train_one=trainer)
    assert len(trainer.calls) == 3 * 2  # baseline + 2 methods, 2 seeds
    assert trainer.calls[:3] == ["1x/baseline/seed0", "2x/width/seed0", "2x/resolution/seed0"]

    again = FakeTrainer()
    assert run_compare(request(tmp_path, tiny), train_one=again) == rows
    assert again.calls == []

    units = tmp_path / "run" / "units.jsonl"
    lines = units.read_text().splitlines()
    units.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])  # killed mid-write
    third = FakeTrainer()
    run_compare(request(tmp_path, tiny), train_one=third)
    assert third.calls == ["2x/resolution/seed1"]

    with pytest.raises(UserError, match="epochs: 1 there, 2 now"):
        run_compare(request(tmp_path, tiny, epochs=2), train_one=FakeTrainer())
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run_json["kind"] == "compare" and run_json["identity"]["methods"] == ["width", "resolution"]


def test_rows_carry_cost_and_accuracy_mean_and_std(tmp_path, tiny, no_estimate):
    rows = run_compare(request(tmp_path, tiny), train_one=FakeTrainer())
    width = next(r for r in rows if r["method"] == "width")
    assert width["seeds"] == 2 and width["failed"] == 0
    assert width["val_accuracy"] == pytest.approx(0.5 + 0.01)  # mean of +0 and +0.02 over seeds
    assert width["val_std"] == pytest.approx(math.sqrt(2) * 0.01)
    assert abs(width["flops_ratio"] / 2 - 1) <= compare.TOLERANCE
    assert width["proxy_resolution"] == 32 and width["resolution"] == 64
    resolution = next(r for r in rows if r["method"] == "resolution")
    assert resolution["proxy_resolution"] > 32 and resolution["resolution"] > 64

    saved = json.loads((tmp_path / "run" / "compare.json").read_text())
    assert saved["kind"] == "compare" and len(saved["rows"]) == 3
    assert (tmp_path / "run" / "compare.csv").read_text().startswith("target,")

    written = list(rebuild(tmp_path / "run").values())
    report = (tmp_path / "run" / "report.md").read_text()
    assert "| target | method | d | w | r (px) |" in report and "± 1.41%" in report
    assert (tmp_path / "run" / "figures" / "compare.png").is_file()
    assert any(p.name == "report.html" for p in written)


def test_a_variant_that_failed_to_train_is_compared_with_nothing(tmp_path, tiny, no_estimate):
    from scalesearch.report.compare import verdicts

    def trainer(setup, item, seed_index):
        record = FakeTrainer()(setup, item, seed_index)
        if item.method == "width" and seed_index == 1:  # one seed of width blows up
            record.update(status="failed-to-train", val_accuracy=0.11, test_accuracy=0.11,
                          message="blew up: first-epoch mean loss 6.10 > 1.5 x ln 10 = 3.45")
        return record

    rows = run_compare(request(tmp_path, tiny, methods="width,resolution,compound"), train_one=trainer)
    width = next(r for r in rows if r["method"] == "width")
    # Its healthy seed alone would be the seed the optimizer spared: no mean, no verdict, no gain.
    assert width["failed"] == 1 and width["trained"] == 2 and width["seeds"] == 0
    assert width["test_accuracy"] is None and width["vs_compound"] is None and width["gain"] is None
    assert width["failed_reason"].startswith("blew up")
    lines = verdicts(rows, baseline="tiny")
    assert lines[0].startswith("2x: width: 1 of 2 trainings failed to train (blew up: first-epoch mean loss 6.10")
    assert "compared with nothing; run `scalesearch calibrate --baseline tiny`" in lines[0]
    assert not any("compound beats width" in line or "compound ties width" in line for line in lines)
    rebuild(tmp_path / "run")
    assert "failed to train" in (tmp_path / "run" / "report.md").read_text()


def test_verdicts_say_beats_ties_or_loses_beyond_noise(tmp_path, tiny, no_estimate):
    import random

    from scalesearch.report.compare import verdicts

    means = {"baseline": 0.70, "width": 0.70, "resolution": 0.75, "compound": 0.75, "depth": 0.80}

    def trainer(setup, item, seed_index):
        shared = random.Random(f"seed{seed_index}").gauss(0, 0.02)  # what a seed does to every method
        own = random.Random(f"{item.method}/{seed_index}").gauss(0, 0.004)
        accuracy = means[item.method] + shared + own
        return {"key": compare.unit_key(item.key, seed_index), "label": item.label, "method": item.method,
                "seed_index": seed_index, "status": "ok", "val_accuracy": accuracy, "test_accuracy": accuracy,
                "images_per_second": 1.0, "seconds": 1.0}

    rows = run_compare(request(tmp_path, tiny, methods="width,resolution,depth,compound", seeds=3), train_one=trainer)
    by = {r["method"]: r for r in rows if r["target"] == "2x"}
    assert by["width"]["verdict"] == "compound beats width" and by["width"]["vs_compound_low"] > 0
    assert by["resolution"]["verdict"] == "compound ties resolution"
    assert by["depth"]["verdict"] == "compound loses to depth" and by["depth"]["vs_compound_high"] < 0
    # The seed effect (sd 0.02) is five times the methods' own noise: pairing removes it.
    assert by["resolution"]["vs_compound_high"] - by["resolution"]["vs_compound_low"] < 0.03
    lines = verdicts(rows)
    assert any("compound beats width" in line and "beyond noise" in line for line in lines)
    assert any("compound ties resolution" in line and "within noise" in line for line in lines)


def test_compare_verdicts_are_simultaneous_intervals_with_compound_the_control():
    """Dunnett's many-to-one intervals, not one t-interval per method: with every method
    equal, per-method intervals gave a false beats / loses to at 26-29 % of targets."""
    import random

    from scalesearch.stats.ranking import TwoWay, difference

    rng = random.Random(3)
    by_seed = {m: {s: 0.75 + 0.01 * s + rng.gauss(0, 0.01) for s in range(3)}
               for m in ("compound", "width", "depth", "resolution")}
    rows = [{"method": m, "test_by_seed": v} for m, v in by_seed.items()]
    compare._against_compound(rows, 0.9)
    fit = TwoWay(by_seed)
    for row in rows[1:]:
        alone = difference(fit, "compound", row["method"], 0.9)
        assert row["vs_compound"] == pytest.approx(alone.mean)
        # 3 comparisons, two-sided 90 %: Dunnett's constant is >= 1.2x Student's at these df.
        assert row["vs_compound_high"] - row["vs_compound_low"] > 1.2 * (alone.high - alone.low)


# -- the paper's Table 3 and longer budgets ----------------------------------------------

def test_paper_table3_numbers_load_from_data_with_their_source():
    table = paper_table3()
    assert "Tan & Le" in table.source and "Table 3" in table.source
    assert table.settings == {"depth": (4.0, 1.0, 1.0), "width": (1.0, 2.0, 1.0),
                              "resolution": (1.0, 1.0, 2.0), "compound": (1.4, 1.2, 1.3)}
    assert PAPER_TABLE3 == table.settings
    r50 = table.cell("resnet50", "compound")
    assert (r50.gflops, r50.top1, r50.baseline_gflops, r50.baseline_top1) == (16.7, 78.8, 4.1, 76.0)
    assert r50.gain == pytest.approx(2.8) and r50.flops_ratio == pytest.approx(16.7 / 4.1)
    assert table.cell("mobilenetv2", "width").top1 == 76.4 and table.cell("mobilenetv1", "resolution").gflops == 2.2
    assert table.cell("mobilenetv1", "depth") is None and table.cell("mobilenetv2", "fast") is None
    assert table.methods("mobilenetv1") == ["width", "resolution", "compound"]


def paper_trainer(means: dict[str, float], epochs: list | None = None):
    """Accuracy = the method's mean (0.80 unless given) + a seed effect shared by every
    method + a little noise of its own; records the epochs each training was given."""
    import random

    def train(setup, item, seed_index):
        if epochs is not None:
            epochs.append(setup.budget.epochs)
        shared = random.Random(f"seed{seed_index}").gauss(0, 0.01)
        own = random.Random(f"{item.key}/{seed_index}").gauss(0, 0.002)
        accuracy = means.get(item.method, 0.80) + shared + own
        return {"key": compare.unit_key(item.key, seed_index), "label": item.label, "method": item.method,
                "seed_index": seed_index, "status": "ok", "val_accuracy": accuracy, "test_accuracy": accuracy,
                "images_per_second": 1.0, "seconds": 0.1}
    return train


def test_budget_scale_reaches_every_training_and_the_run_records_it(tmp_path, tiny, no_estimate):
    epochs: list[int] = []
    rows = run_compare(request(tmp_path, tiny, epochs=2, budget_scale=1.5), train_one=paper_trainer({}, epochs))
    assert epochs == [3] * 6  # baseline + 2 methods, 2 seeds: every one at 2 x 1.5 epochs
    assert all(r["epochs"] == 3 and r["budget_scale"] == 1.5 for r in rows)
    saved = json.loads((tmp_path / "run" / "compare.json").read_text())
    assert (saved["config"]["budget_scale"], saved["config"]["proxy_epochs"], saved["config"]["epochs"]) == (1.5, 2, 3)
    assert "budget_scale" in (tmp_path / "run" / "compare.csv").read_text().splitlines()[0]
    rebuild(tmp_path / "run")
    assert "1.5× the proxy budget (2 × 1.5 → 3 epochs)" in (tmp_path / "run" / "report.md").read_text()
    with pytest.raises(UserError, match="budget_scale: 1.5 there, 1.0 now"):
        run_compare(request(tmp_path, tiny, epochs=2), train_one=paper_trainer({}))


@pytest.mark.parametrize("scale", [0, -1, math.nan, math.inf, True])
def test_budget_scale_must_be_a_positive_number(tmp_path, tiny, scale):
    with pytest.raises(CompareError, match="budget_scale must be a positive number"):
        request(tmp_path, tiny, budget_scale=scale)


def test_paper_table3_renders_beside_a_fake_run(tmp_path, no_estimate):
    space = load_space("mobilenetv2")
    means = {"baseline": 0.70, "width": 0.76, "depth": 0.77, "resolution": 0.75, "compound": 0.80}
    rows = run_compare(request(tmp_path, space, baseline="mobilenetv2", targets=None, methods=None,
                               preset="paper-table3", seeds=3),
                       train_one=paper_trainer(means))
    assert [(r["target"], r["method"]) for r in rows] == [("1x", "baseline"), *(("table3", m) for m in
                                                          ("width", "depth", "resolution", "compound"))]
    by = {r["method"]: r for r in rows}
    assert by["compound"]["paper_top1"] == 77.4 and by["compound"]["paper_gain"] == pytest.approx(5.4)
    assert by["width"]["paper_flops_ratio"] == pytest.approx(1.1 / 0.3) and by["baseline"]["paper_top1"] == 72.0
    assert by["compound"]["gain"] == pytest.approx(0.10, abs=0.01) and by["compound"]["gain_low"] > 0
    assert by["depth"]["verdict"] == "compound beats depth"
    rebuild(tmp_path / "run")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "## Beside the paper (Tan & Le 2019, Table 3)" in report
    assert "MobileNetV2: agrees with the paper: compound beats width, depth and resolution beyond noise" in report
    assert "| compound | 1.4, 1.2, 1.3 | 4.33× |" in report and "| +5.4 |" in report  # the paper's
    assert "Tan & Le" in report and "the proxy budget, 1 epoch(s) (budget scale 1)" in report
    assert "our compound row costs 4.79× the baseline's FLOPs against 3.78–4.05×" in report


def test_agreement_sentences():
    from scalesearch.report.compare_paper import agreement

    def rows(**gaps):  # method -> (compound - it, low, high) in accuracy units
        return [{"target": "table3", "method": "compound"}] + [
            {"target": "table3", "method": m, "vs_compound": g[0], "vs_compound_low": g[1], "vs_compound_high": g[2]}
            for m, g in gaps.items()]

    assert agreement(rows(width=(0.02, 0.01, 0.03), depth=(0.03, 0.02, 0.04)), "resnet50") == (
        "ResNet-50: agrees with the paper: compound beats width and depth beyond noise (by 2.0 points or more).")
    assert "agrees in direction, within noise" in agreement(rows(width=(0.01, -0.01, 0.03)), "mobilenetv1")
    assert agreement(rows(width=(-0.012, -0.02, -0.004), depth=(0.01, 0, 0.02)), "mobilenetv2").startswith(
        "MobileNetV2: disagrees: width beats compound by 1.2 points (90% simultaneous interval +0.4 to +2.0), "
        "beyond noise.")
    assert agreement(rows(resolution=(-0.033, -0.116, 0.051), width=(0.08, 0, 0.16)), "mobilenetv2") == (
        "MobileNetV2: disagrees in direction, within noise: resolution is 3.3 points above compound "
        "(90% simultaneous interval -5.1 to +11.6).")
    assert "undecided" in agreement(rows(width=(0.01, math.nan, math.nan)), "mobilenetv2")
    assert "not run" in agreement([{"target": "1x", "method": "baseline"}], "mobilenetv2")
    pending = {"target": "table3", "method": "depth", "paper_top1": 78.1, "vs_compound": None}
    assert "not measured yet" in agreement(rows(width=(0.02, 0.01, 0.03)) + [pending], "resnet50")
    no_cell = {"target": "table3", "method": "depth", "paper_top1": None, "vs_compound": None}  # MobileNetV1's
    assert agreement(rows(width=(0.02, 0.01, 0.03)) + [no_cell], "mobilenetv1").startswith(
        "MobileNetV1: agrees with the paper: compound beats width beyond noise")


def test_figure3_when_the_run_has_two_targets(tmp_path, tiny, no_estimate):
    run_compare(request(tmp_path, tiny, targets="2x,4x", methods="width,depth,resolution,compound"),
                train_one=paper_trainer({"compound": 0.82}))
    rebuild(tmp_path / "run")
    assert (tmp_path / "run" / "figures" / "figure3.png").read_bytes().startswith(b"\x89PNG")
    assert "Figure 3" in (tmp_path / "run" / "report.md").read_text()
    assert "Beside the paper" not in (tmp_path / "run" / "report.md").read_text()


def test_the_estimate_times_a_step_at_the_threads_asked_for(tmp_path, tiny, monkeypatch):
    """--threads 1 beside another job was estimated at the default's every-core threads:
    oversubscribed, 363 min for a run that took 17.5."""
    seen = []
    monkeypatch.setattr(compare, "estimate_seconds",
                        lambda networks, *args: seen.append(args[-1]) or [1.0] * len(networks))
    run_compare(request(tmp_path, tiny, threads=1), train_one=FakeTrainer())
    assert seen == [1]


def test_the_estimate_is_timed_again_at_the_workers_threads(tmp_path, tiny, monkeypatch):
    """Two 1-thread workers were estimated from a 2-thread step and each unit's estimate
    divided by 2: 6 min for a run that took 11.9 (MobileNetV2, Table 3)."""
    seen, heard = [], []
    monkeypatch.setattr(compare, "available_cores", lambda: 4)
    monkeypatch.setattr(compare, "estimate_seconds",
                        lambda networks, *args: seen.append(args[-1]) or [10.0 * args[-1]] * len(networks))
    monkeypatch.setattr(compare, "_processes", lambda *a, **k: compare.ProcessPlan(2, 1, "two workers"))

    class Events(compare.CompareEvents):
        def planned(self, plan, costs, todo, finished, estimates, workers=1):
            heard.append((set(estimates.values()), workers))
            raise Stop  # before the (real) workers start

    class Stop(Exception):
        pass

    with pytest.raises(Stop):
        run_compare(request(tmp_path, tiny), Events())
    assert seen == [4, 1]
    assert heard == [({10.0}, 2)]  # each unit's own seconds at 1 thread, undivided
