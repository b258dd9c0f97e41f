"""`scalesearch compare` through the CLI: errors, JSON output, a tiny real run, resume."""

from __future__ import annotations

import json

import pytest

from scalesearch import compare
from tests.test_compare import TINY
from tests.tiny import write_space


def test_help_has_an_example(cli):
    result = cli("compare", "--help")
    assert result.exit_code == 0
    assert "scalesearch compare --baseline" in result.output and "--seeds" in result.output


@pytest.mark.parametrize("args, message", [
    (("--target", "2y"), "--target: cannot read '2y'"),
    (("--target", "1x"), "above 1"),
    (("--methods", "width,heigth"), "unknown method 'heigth'"),
    (("--preset", "paper-table3", "--target", "1x"), "above 1"),
    (("--budget-scale", "0"), "--budget-scale must be a positive number"),
    (("--budget-scale", "-1"), "--budget-scale must be a positive number"),
    (("--budget-scale", "nan"), "--budget-scale must be a positive number"),
    (("--budget-scale", "1e308"), "--budget-scale 1e+308 is above 100"),
    (("--alpha", "1.2"), "go together"),
    (("--seeds", "0"), "--seeds must be >= 1"),
])
def test_bad_input_is_one_line_and_exit_1(cli, tmp_path, args, message):
    result = cli("compare", "-b", "mobilenetv2", "--out", tmp_path / "run", *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().startswith("error:")


def test_refuses_a_directory_holding_another_kind_of_run(cli, tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"kind": "grid", "config": {}}))
    (tmp_path / "study.journal").write_text("")  # a grid's results (run.json alone is a failed start)
    result = cli("compare", "-b", "mobilenetv2", "--out", tmp_path)
    assert result.exit_code == 1 and "holds a grid run" in result.output


def fake_train(setup, item, seed_index):
    accuracy = {"baseline": 0.8, "width": 0.82, "compound": 0.84}.get(item.method, 0.81)
    return {"key": compare.unit_key(item.key, seed_index), "label": item.label, "method": item.method,
            "seed_index": seed_index, "status": "ok", "val_accuracy": accuracy,
            "test_accuracy": accuracy, "images_per_second": 1.0, "seconds": 0.1}


def test_format_json_prints_the_rows_only(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(compare, "train_unit", fake_train)
    monkeypatch.setattr(compare, "estimates", lambda setup, todo: {})
    result = cli("compare", "-b", write_space(tmp_path, TINY), "--target", "2x", "--methods", "width,compound",
                 "--data", "synthetic", "--train-images", "256", "--val-images", "200", "--out", tmp_path, "--format", "json",
                 "--device", "cpu", "--workers", "1")  # the fake trainer lives in this process
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["target"], r["method"]) for r in rows] == [("1x", "baseline"), ("2x", "width"), ("2x", "compound")]
    assert rows[2]["test_accuracy"] == 0.84 and abs(rows[1]["flops_ratio"] - 2) <= 0.1
    for name in ("run.json", "units.jsonl", "compare.csv", "compare.json", "report.md", "report.html",
                 "figures/compare.png"):
        assert (tmp_path / name).is_file(), name
    assert "2x: compound beats width: +2.00 points of test accuracy" in (tmp_path / "report.md").read_text()


@pytest.mark.slow
def test_tiny_real_compare_end_to_end_and_resume(cli, plumbing, tmp_path):
    args = ("compare", "-b", "mobilenetv2", "--target", "2x", "--methods", "width,compound",
            "--data", "fashion-mnist", "--epochs", "1", "--train-images", "256", "--val-images", "200",
            "--test-images", "200", "--device", "cpu", "--seeds", "1", "--out", tmp_path, "--format", "json")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    rows = json.loads(first.stdout)
    assert len(rows) == 3 and all(r["seeds"] == 1 and 0 <= r["test_accuracy"] <= 1 for r in rows)
    assert "3 units to train (0 already done)" in first.stderr

    second = cli(*args)
    assert second.exit_code == 0
    assert "0 units to train (3 already done)" in second.stderr
    assert json.loads(second.stdout) == rows
    assert len((tmp_path / "units.jsonl").read_text().splitlines()) == 3


def test_paper_table3_prints_the_papers_numbers_beside_ours(cli, tmp_path, monkeypatch):
    """--preset paper-table3 on MobileNetV2 with a fake trainer: the paper's FLOP ratios,
    top-1 and gains print beside ours, with a sentence on agreement and the budget used."""
    from tests.test_compare import paper_trainer

    monkeypatch.setattr(compare, "train_unit", paper_trainer({"compound": 0.84}))
    monkeypatch.setattr(compare, "estimates", lambda setup, todo: {})
    result = cli("compare", "-b", "mobilenetv2", "--preset", "paper-table3", "--methods", "width,compound",
                 "--data", "synthetic",
                 "--train-images", "256", "--val-images", "200", "--epochs", "1", "--budget-scale", "3",
                 "--out", tmp_path, "--device", "cpu", "--workers", "1")
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())
    assert "beside the paper" in out and "4.33×" in out and "77.4" in out and "+5.4" in out
    assert "MobileNetV2: agrees with the paper" in out and "Trained for 3 epochs (budget scale 3)" in out


@pytest.mark.slow
def test_two_worker_processes_train_each_unit_once_and_as_one_process_would(cli, tmp_path):
    # The multi-process path for real: units are shared out to two spawned workers. One
    # thread each, so the numbers are the one-process run's to the bit.
    args = ("compare", "-b", "mobilenetv2", "--target", "2x", "--methods", "width,compound",
            "--data", "fashion-mnist", "--epochs", "1", "--train-images", "256", "--val-images", "200",
            "--test-images", "200", "--device", "cpu", "--seeds", "2", "--threads", "1", "--format", "json")
    one = cli(*args, "--workers", "1", "--out", tmp_path / "one")
    two = cli(*args, "--workers", "2", "--out", tmp_path / "two")
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    units = [json.loads(line) for line in (tmp_path / "two" / "units.jsonl").read_text().splitlines()]
    assert sorted(u["key"] for u in units) == sorted({u["key"] for u in units}) and len(units) == 6
    def accuracies(result):
        return {(row["target"], row["method"]): (row["val_accuracy"], row["test_accuracy"], row["val_std"])
                for row in json.loads(result.stdout)}

    assert accuracies(two) == accuracies(one) and len(accuracies(one)) == 3
