"""`scalesearch transfer` through the CLI: errors, JSON output, a tiny real run, resume."""

from __future__ import annotations

import json

import pytest

from scalesearch import transfer
from scalesearch.runs.compare_units import unit_key
from scalesearch.runs.run_dir import RunInfo, claim_run_dir
from scalesearch.spec.spaces import load_space
from tests.test_compare import TINY
from tests.test_transfer import write_grid
from tests.tiny import DATA, write_space


def test_help_has_an_example(cli):
    result = cli("transfer", "--help")
    assert result.exit_code == 0
    assert "scalesearch transfer --from" in result.output and "--budget-scale" in result.output


@pytest.mark.parametrize("args, message", [
    (("--phi", "0.5"), "--phi must be a number >= 1"),
    (("--phi", "1"), "--phi 1 retrains the grid's own networks: give --budget-scale > 1"),
    (("--top", "0"), "--top must be a whole number >= 1"),
    (("--seeds", "0"), "--seeds must be a whole number >= 1"),
    (("--budget-scale", "0"), "--budget-scale must be a positive number"),
    (("--budget-scale", "500"), "--budget-scale 500 is above 100"),
])
def test_bad_input_is_one_line_and_exit_1(cli, tmp_path, args, message):
    result = cli("transfer", "--from", tmp_path, "--out", tmp_path / "run", *args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert result.output.strip().startswith("error:") and len(result.output.strip().splitlines()) == 1


def test_refuses_a_from_that_is_not_a_finished_grid(cli, tmp_path):
    result = cli("transfer", "--from", tmp_path / "missing", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "--from" in result.output and "no such directory" in result.output
    claim_run_dir(tmp_path / "c", RunInfo(kind="compare", baseline="x", space="y", request={}, results="compare.json"))
    result = cli("transfer", "--from", tmp_path / "c", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "--from" in result.output and "holds a compare run, not a grid" in result.output
    assert "Traceback" not in result.output


def fake_train(setup, point, seed_index):
    accuracy = {"(1.3, 1.1, 1.1)": 0.9}.get(point.chosen.label, 0.5) + 0.01 * seed_index
    return {"key": unit_key(point.key, seed_index), "label": point.chosen.label, "seed_index": seed_index,
            "status": "ok", "val_accuracy": accuracy, "test_accuracy": accuracy, "images_per_second": 1.0,
            "seconds": 0.1}


def test_format_json_prints_one_document(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(transfer, "train_unit", fake_train)
    monkeypatch.setattr(transfer, "estimates", lambda setup, todo: {})
    space = load_space(str(write_space(tmp_path, TINY)))
    grid = write_grid(tmp_path / "grid", space)
    out = tmp_path / "transfer"
    result = cli("transfer", "--from", grid, "--phi", "2", "--top", "2", "--out", out, "--device", "cpu",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kind"] == "transfer" and document["verdict"]["outcome"] == "holds"
    assert [p["label"] for p in document["points"]] == ["(1.3, 1.1, 1.1)", "(1, 1, 1.4)", "(1.2, 1.1, 1.15)"]
    for name in ("run.json", "units.jsonl", "transfer.csv", "transfer.json", "report.md", "report.html",
                 "figures/transfer-slope.png"):
        assert (out / name).is_file(), name
    table = cli("transfer", "--from", grid, "--phi", "2", "--top", "2", "--out", out, "--device", "cpu")
    assert table.exit_code == 0 and "0 units to train (12 already done)" in table.stderr  # 3 points x 4 seeds
    assert "the φ = 1 choice holds at φ = 2" in table.stdout and "rank φ=1" in table.stdout


@pytest.mark.slow
def test_tiny_real_grid_then_transfer_end_to_end_and_resume(cli, plumbing, tmp_path):
    space = write_space(tmp_path, TINY)
    budget = ("--data", DATA, "--epochs", "1", "--train-images", "256", "--val-images", "200", "--test-images",
              "200", "--device", "cpu", "--threads", "1")
    grid = cli("grid", "-b", space, "--step", "0.4", "--seeds", "2", "--out", tmp_path / "grid", *budget)
    assert grid.exit_code == 0, grid.output
    args = ("transfer", "--from", tmp_path / "grid", "--phi", "2", "--top", "2", "--seeds", "2", "--device", "cpu",
            "--threads", "1", "--out", tmp_path / "transfer", "--format", "json")
    first = cli(*args)
    assert first.exit_code == 0, first.output
    document = json.loads(first.stdout)
    labels = [p["label"] for p in document["points"]]
    assert len(labels) == 3 and "(1.2, 1.1, 1.15)" in labels  # top 2 + the paper's point
    assert all(p["seeds_phi"] == 2 and 0 <= p["mean_phi"] <= 1 for p in document["points"])
    assert document["verdict"]["outcome"] in ("holds", "does not hold", "undecided")
    assert document["budgets"]["phi"]["epochs"] == document["budgets"]["phi1"]["epochs"] == 1
    assert "6 units to train (0 already done)" in first.stderr

    second = cli(*args)
    assert second.exit_code == 0
    assert "0 units to train (6 already done)" in second.stderr
    assert json.loads(second.stdout)["verdict"] == document["verdict"]
    assert len((tmp_path / "transfer" / "units.jsonl").read_text().splitlines()) == 6

    # The fidelity check: the grid's own phi = 1 networks, twice its epochs.
    fidelity = cli("transfer", "--from", tmp_path / "grid", "--phi", "1", "--budget-scale", "2", "--top", "2",
                   "--seeds", "2", "--device", "cpu", "--threads", "1", "--out", tmp_path / "fidelity",
                   "--format", "json")
    assert fidelity.exit_code == 0, fidelity.output
    checked = json.loads(fidelity.stdout)
    assert checked["fidelity"] and checked["budgets"]["phi"]["epochs"] == 2
    assert all(p["target_ratio"] == 2.0 and p["rank_phi1"] is not None for p in checked["points"])
    assert checked["verdict"]["outcome"] in ("holds", "does not hold", "undecided")
    assert "4× the grid's epochs" not in checked["verdict"]["sentence"] and "2× the grid's epochs" in checked["at"]
