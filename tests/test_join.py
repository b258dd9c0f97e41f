"""Workers that join a study by its URL alone: `grid --workers 0` sets a study up and
records what a worker needs; `scalesearch worker --storage URL --study NAME` on any host
trains it with no other options; a SIGKILLed worker loses only its running unit."""

import json
import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from scalesearch.search.storage import open_storage
from tests.tiny import DATA, TINY_SPACE, write_space

GRID = ["grid", "--step", "0.4", "--epochs", "1", "--train-images", "256", "--val-images", "64",
        "--test-images", "64", "--batch-size", "64", "--resolution", "32", "--device", "cpu", "--data", DATA,
        "--seeds", "2", "--workers", "0"]


def _worker(storage, study, *extra):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "scalesearch", "worker", "--storage", storage, "--study", study,
                             "--device", "cpu", "--threads", "1", *extra],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _units(storage, study, tmp_path):
    loaded = optuna.load_study(study_name=study, storage=open_storage(storage, tmp_path))
    return loaded, loaded.get_trials(deepcopy=False)


@pytest.fixture(params=["postgresql", "grpc"])
def shared_storage(request, postgres_url, tmp_path):
    """A real PostgreSQL, directly or through a real `scalesearch storage-proxy` process."""
    if request.param == "postgresql":
        yield postgres_url
        return
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proxy = subprocess.Popen([sys.executable, "-m", "scalesearch", "storage-proxy", "--storage", postgres_url,
                              "--host", "127.0.0.1", "--port", str(port)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        yield f"grpc://127.0.0.1:{port}"
    finally:
        proxy.terminate()
        proxy.wait(timeout=30)


@pytest.mark.slow
def test_three_workers_join_by_url_and_a_killed_one_loses_only_its_unit(cli, plumbing, shared_storage, tmp_path):
    storage, study = shared_storage, f"join_{tmp_path.name[-12:]}"
    made = cli(*GRID, "-b", "resnet18", "--storage", storage, "--study", study, "--out", tmp_path / "run")
    assert made.exit_code == 0, made.output
    assert f"scalesearch worker --storage {storage} --study {study}" in made.output
    _, trials = _units(storage, study, tmp_path)
    assert trials == []  # set up, nothing trained

    workers = [_worker(storage, study) for _ in range(3)]
    victim, killed = workers[0], None
    deadline = time.time() + 600
    while killed is None and time.time() < deadline:
        time.sleep(0.3)
        for t in _units(storage, study, tmp_path)[1]:
            if t.state == TrialState.RUNNING and t.user_attrs.get("owner_pid") == victim.pid:
                killed = (t.user_attrs["point"], t.user_attrs["seed"])
    assert killed is not None, "the victim never started a unit"
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    for w in workers[1:]:
        _, err = w.communicate(timeout=900)
        assert w.returncode == 0, err
        assert "nothing left to train" in err.strip().splitlines()[-1]

    loaded, trials = _units(storage, study, tmp_path)
    feasible = [c["index"] for c in loaded.user_attrs["candidates"] if c["feasible"]]
    complete = [(t.user_attrs["point"], t.user_attrs["seed"]) for t in trials
                if t.state == TrialState.COMPLETE and not t.user_attrs.get("duplicate")]
    assert sorted(complete) == sorted((p, s) for p in feasible for s in (0, 1))  # every unit once
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    dead = [t for t in trials if t.state == TrialState.FAIL]
    assert [(t.user_attrs["point"], t.user_attrs["seed"]) for t in dead] == [killed]  # only the victim's unit
    assert dead[0].user_attrs["failed_reason"] == "worker died"

    again = cli(*GRID, "-b", "resnet18", "--storage", storage, "--study", study, "--out", tmp_path / "run",
                "--format", "json")
    assert again.exit_code == 0 and json.loads(again.stdout)["complete"]  # the results, all in


@pytest.mark.slow
def test_a_worker_joins_a_yaml_space_whose_file_is_only_on_the_coordinator(cli, tmp_path):
    space = write_space(tmp_path, TINY_SPACE)
    storage = f"journal:{tmp_path / 'study.journal'}"
    made = cli(*GRID, "-b", space, "--storage", storage, "--study", "tiny", "--seeds", "1", "--out", tmp_path / "run")
    assert made.exit_code == 0, made.output
    space.unlink()  # the worker's host does not have it
    worker = _worker(storage, "tiny")
    _, err = worker.communicate(timeout=600)
    assert worker.returncode == 0, err
    loaded, trials = _units(storage, "tiny", tmp_path)
    assert trials and all(t.state == TrialState.COMPLETE for t in trials)
    again = _worker(storage, "tiny")  # nothing left: one line, exit 0
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0 and err.strip().splitlines() == [
        "worker: nothing left to train in study 'tiny' (0 unit(s) trained here)"]


def test_a_storage_proxy_that_is_not_there_is_one_line(cli, monkeypatch, tmp_path):
    from scalesearch.search import storage

    monkeypatch.setattr(storage, "GRPC_WAIT_SECONDS", 0.5)
    result = cli("worker", "--storage", "grpc://127.0.0.1:9", "--study", "s")
    assert result.exit_code == 1 and "cannot reach the storage proxy at 127.0.0.1:9" in result.output
    result = cli("storage-proxy", "--storage", f"journal:{tmp_path / 'j'}", "--port", "9")
    assert result.exit_code == 1 and "does not support journal files" in result.output


def test_joining_a_study_that_is_not_there_or_does_not_describe_itself_is_one_line(cli, tmp_path):
    storage = f"journal:{tmp_path / 'study.journal'}"
    result = cli("worker", "--storage", storage, "--study", "absent")
    assert result.exit_code == 1 and "no study 'absent' in --storage" in result.output
    optuna.create_study(study_name="foreign", storage=open_storage(storage, tmp_path))
    result = cli("worker", "--storage", storage, "--study", "foreign")
    assert result.exit_code == 1 and "does not describe itself" in result.output
    assert len(result.output.strip().splitlines()) == 1
