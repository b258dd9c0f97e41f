"""`scalesearch grid` end to end through the CLI: a 3-point grid, resume, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

TINY = ["--baseline", "resnet18", "--step", "0.4", "--epochs", "1", "--train-images", "128",
        "--val-images", "64", "--test-images", "64", "--batch-size", "64", "--resolution", "32",
        "--device", "cpu", "--seeds", "1"]


def _trials(run_dir, name="grid-resnet18"):
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(run_dir / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


@pytest.mark.slow
def test_tiny_grid_end_to_end(cli, plumbing, tmp_path):
    out = tmp_path / "run"
    racing = TINY[:-2]  # without --seeds 1: the default, racing over seeds
    result = cli("grid", *racing, "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    best = json.loads(result.stdout)
    assert best == json.loads((out / "best.json").read_text())
    for key in ("alpha", "beta", "gamma", "val_accuracy", "flops_ratio", "decided", "contenders", "seeds",
                "outcome", "noise"):
        assert key in best
    assert best["complete"] and abs(best["flops_ratio"] / 2 - 1) <= 0.02
    recommended = best["recommended"]  # a tie recommends its fastest contender (timed here); a decision its winner
    assert recommended["tie_break"] == "latency"
    if best["decided"]:
        assert (recommended["alpha"], recommended["beta"], recommended["gamma"]) == (best["alpha"], best["beta"], best["gamma"])
    units = pd.read_csv(out / "trials.csv")
    points = pd.read_csv(out / "points.csv")
    if not best["decided"]:  # timed side by side: the fastest beyond the timings' spread, or the fewest params
        assert recommended["decided_by"] in ("latency", "params") and recommended["cost_ratio"] > 0
        if recommended["decided_by"] == "latency":
            assert recommended["cost_ratio"] == min(recommended["cost_ratios"].values())
        contenders = points[points["contender"] == True]  # noqa: E712
        assert contenders["tie_latency_ratio"].notna().all() and (out / "tie_latency.json").is_file()
    assert len(points) == 4 and points.loc[0, "role"] == "baseline"
    trained = units[units["state"] == "complete"]
    assert len(trained) == best["trainings"] > 1 + best["feasible"]  # racing added seeds
    # The baseline takes no part in the race: the noise sample's two seeds at most (worker.baseline_seeds).
    assert set(points.loc[1:, "seeds"]) <= {1, 2, 3} and points.loc[0, "seeds"] == min(points["seeds"].max(), 2)
    assert len(trained) == len(set(zip(trained["point"], trained["seed"])))  # no unit twice
    # stderr is not a terminal here: one log line per training instead of a live table
    assert result.stderr.count(": ok val ") == len(trained) and "[pid " in result.stderr, result.stderr
    report = (out / "report.md").read_text()
    assert best["outcome"] in report and (out / "report.html").is_file()

    again = cli("grid", *racing, "--out", out, "--format", "json")  # resume: nothing to train
    assert again.exit_code == 0
    assert len([t for t in _trials(out) if t.state == TrialState.COMPLETE]) == len(trained)

    rebuilt = cli("report", out)
    assert rebuilt.exit_code == 0, rebuilt.output


@pytest.mark.slow
def test_sigterm_then_rerun_completes_without_retraining(tmp_path):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "scalesearch", "grid", *TINY, "--train-images", "512",
            "--epochs", "2", "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "120"})
    deadline = time.time() + 600
    while time.time() < deadline:  # wait until one trial finished and the next is running
        time.sleep(0.5)
        if (out / "study.journal").exists():
            try:
                trials = _trials(out)
            except KeyError:
                continue
            states = [t.state for t in trials]
            if TrialState.COMPLETE in states and TrialState.RUNNING in states:
                break
    else:
        proc.kill()
        pytest.fail("the grid never got to its second trial")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "run the same command to resume" in err
    before = {t.user_attrs["point"]: t.number for t in _trials(out) if t.state == TrialState.COMPLETE}
    assert [t for t in _trials(out) if t.state == TrialState.FAIL]  # the interrupted one

    rerun = subprocess.run(args, capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr
    complete = [t for t in _trials(out) if t.state == TrialState.COMPLETE]
    points = [t.user_attrs["point"] for t in complete]
    assert len(points) == len(set(points))  # every point trained once
    for point, number in before.items():  # finished ones were not re-trained
        assert next(t.number for t in complete if t.user_attrs["point"] == point) == number
    assert not [t for t in _trials(out) if t.state == TrialState.RUNNING]


def test_grid_bad_input(cli, tmp_path):
    cases = [
        (["--low", "0.5"], "--low 0.5"),
        (["--grid", "3d", "--step", "0.3", "--tolerance", "0.001"], "relax --tolerance"),
        (["--storage", "postgresql://nobody@127.0.0.1:9/none"], "127.0.0.1:9"),
        (["--storage", "redis://x"], "--storage"),
        (["--sampler", "bayes"], "--sampler"),
        (["--workers", "99"], "--workers"),
    ]
    for extra, fragment in cases:
        result = cli("grid", *TINY, "--out", tmp_path / "bad", *extra)
        assert result.exit_code == 1, (extra, result.output)
        assert fragment in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_study_made_for_another_baseline_is_refused(cli, tmp_path):
    storage = f"journal:{tmp_path / 'shared.journal'}"
    from scalesearch.search.candidates import GridSpec
    from scalesearch.search.study import SearchConfig, open_study
    from scalesearch.spec.spaces import load_space
    from scalesearch.search.storage import open_storage
    from scalesearch.training.budget import ProxyBudget

    space = load_space("mobilenetv1")
    config = SearchConfig("mobilenetv1", GridSpec(step=0.4), ProxyBudget())
    open_study(open_storage(storage, tmp_path), "shared", config, space, lambda: [])
    result = cli("grid", *TINY, "--out", tmp_path / "r", "--storage", storage, "--study", "shared")
    assert result.exit_code == 1 and "different baseline" in result.stderr
    assert not (tmp_path / "r" / "best.json").exists()


def test_study_from_another_scalesearch_version_is_refused(cli, tmp_path):
    from scalesearch.search.candidates import GridSpec
    from scalesearch.search.study import SearchConfig, open_study
    from scalesearch.spec.spaces import load_space
    from scalesearch.search.storage import open_storage
    from scalesearch.training.budget import ProxyBudget

    space = load_space("resnet18")
    budget = ProxyBudget(epochs=1, train_images=128, batch_size=64, val_images=64)
    config = SearchConfig("resnet18", GridSpec(step=0.4), budget, test_images=64)
    study, _ = open_study(open_storage(None, tmp_path), "grid-resnet18", config, space, lambda: [])
    old = {**study.user_attrs["fingerprint"], "scalesearch": "0.0"}
    study.set_user_attr("fingerprint", old)
    result = cli("grid", *TINY, "--out", tmp_path)
    assert result.exit_code == 1, result.output
    assert "different scalesearch" in result.stderr
