"""Many workers on one study, with real servers and real process deaths.

Two `scalesearch grid` processes share a study on PostgreSQL or on a journal file; every
point is trained exactly once.  One worker is SIGKILLed in the middle of a trial; the
other finishes, the killed point included, and nothing is left RUNNING.
"""

import os
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState

from scalesearch.search.storage import open_storage
from scalesearch.training import health

GRID = ["grid", "--baseline", "resnet18", "--step", "0.4", "--epochs", "1", "--train-images", "384",
        "--val-images", "64", "--test-images", "64", "--batch-size", "64", "--resolution", "32",
        "--device", "cpu", "--study", "shared", "--seeds", "2"]


@pytest.fixture(params=["journal", "postgresql"])
def storage_url(request, tmp_path):
    if request.param == "journal":
        return f"journal:{tmp_path / 'shared.journal'}"
    return request.getfixturevalue("postgres_url") + f"?application_name={tmp_path.name}"


def _worker(storage_url, out, threads="1"):
    env = {**os.environ, "OMP_NUM_THREADS": threads}
    return subprocess.Popen([sys.executable, "-m", "scalesearch", *GRID, "--storage", storage_url,
                             "--out", str(out), "--worker-only", "--threads", threads],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)


def _trials(storage_url, tmp_path):
    study = optuna.load_study(study_name="shared", storage=open_storage(storage_url, tmp_path))
    return study, study.get_trials(deepcopy=False)


def _assert_each_point_trained_once(storage_url, tmp_path):
    study, trials = _trials(storage_url, tmp_path)
    feasible = [c["index"] for c in study.user_attrs["candidates"] if c["feasible"]]
    done = [t for t in trials if t.state == TrialState.COMPLETE and not t.user_attrs.get("duplicate")]
    complete = [(t.user_attrs["point"], t.user_attrs["seed"]) for t in done]
    assert len(complete) == len(set(complete))  # no unit twice
    # A point whose training failed the health check gets no more seeds (one already claimed
    # by the other worker may still finish); every other point gets both.
    failed = {t.user_attrs["point"] for t in done if health.failed(t.user_attrs)}
    assert {p for p, _ in complete} == set(feasible)
    assert {u for u in complete if u[0] not in failed} == {(p, s) for p in feasible if p not in failed for s in (0, 1)}
    assert len(failed) < len(feasible)  # the budget trains some points: the seeds-per-point path is exercised
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    return trials


@pytest.fixture
def fresh_db(storage_url, tmp_path):
    if storage_url.startswith("postgresql"):
        try:  # each test gets its own study: delete one left by an earlier parametrization
            optuna.delete_study(study_name="shared", storage=open_storage(storage_url, tmp_path))
        except KeyError:
            pass
    return storage_url


@pytest.mark.slow
def test_two_workers_train_every_point_exactly_once(fresh_db, tmp_path):
    workers = [_worker(fresh_db, tmp_path / f"w{i}") for i in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=900)
        assert w.returncode == 0, err
    trials = _assert_each_point_trained_once(fresh_db, tmp_path)
    owners = {t.user_attrs.get("owner_pid") for t in trials if t.state == TrialState.COMPLETE}
    assert len(owners) == 2  # both workers did some of the work


@pytest.mark.slow
def test_sigkilled_worker_loses_only_its_running_trial(fresh_db, tmp_path):
    victim = _worker(fresh_db, tmp_path / "victim")
    survivor = _worker(fresh_db, tmp_path / "survivor")
    deadline = time.time() + 600
    killed_point = None
    while time.time() < deadline and killed_point is None:
        time.sleep(0.3)
        try:
            _, trials = _trials(fresh_db, tmp_path)
        except KeyError:
            continue
        for t in trials:
            if t.state == TrialState.RUNNING and t.user_attrs.get("owner_pid") == victim.pid:
                killed_point = (t.user_attrs["point"], t.user_attrs["seed"])
    assert killed_point is not None, "the victim never started a trial"
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    _, err = survivor.communicate(timeout=900)
    assert survivor.returncode == 0, err
    trials = _assert_each_point_trained_once(fresh_db, tmp_path)
    dead = [t for t in trials if (t.user_attrs.get("point"), t.user_attrs.get("seed")) == killed_point
            and t.state == TrialState.FAIL]
    assert dead and dead[0].user_attrs["failed_reason"] == "worker died"


@pytest.mark.slow
def test_two_workers_starting_together_on_a_fresh_database(postgres_url, tmp_path):
    """Both create Optuna's tables at once; the one that loses the race waits and opens them."""
    import uuid

    import sqlalchemy

    name = f"fresh_{uuid.uuid4().hex[:8]}"
    server = postgres_url.rsplit("/", 1)[0]
    engine = sqlalchemy.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    url = f"{server}/{name}"
    workers = [_worker(url, tmp_path / f"w{i}") for i in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=900)
        assert w.returncode == 0, err
        assert "Traceback" not in err
    _assert_each_point_trained_once(url, tmp_path)


def test_an_owner_written_half_way_is_not_taken_for_a_dead_worker():
    # A worker writes its claim one attribute at a time; another reading in between must not
    # reap the trial (a reader that took a missing lease for an expired one crashed the owner).
    import datetime

    from optuna.trial import FrozenTrial

    from scalesearch.search.storage import LEASE_SECONDS, is_stale, owner_attrs

    def running(attrs, started):
        return FrozenTrial(number=0, state=TrialState.RUNNING, value=None, datetime_start=started,
                           datetime_complete=None, params={}, distributions={}, user_attrs=attrs,
                           system_attrs={}, intermediate_values={}, trial_id=0)

    now = datetime.datetime.now()
    claim = owner_attrs()
    assert next(iter(claim)) == "lease_until"  # the lease is written first
    for written in range(len(claim) + 1):
        attrs = dict(list(claim.items())[:written])
        assert not is_stale(running(attrs, now)), attrs
    long_ago = now - datetime.timedelta(seconds=2 * LEASE_SECONDS)
    assert is_stale(running({"owner_pid": os.getpid()}, long_ago))  # half a claim, long abandoned
    assert is_stale(running({**claim, "lease_until": time.time() - 1}, now))  # a lease run out


def test_a_lease_from_a_skewed_or_tampered_clock_vouches_for_nothing():
    """Before: a lease a year ahead (or inf) kept its trial RUNNING, and its unit unclaimed, forever."""
    import datetime

    from optuna.trial import FrozenTrial

    from scalesearch.search.storage import LEASE_SECONDS, MAX_CLOCK_SKEW, is_stale, owner_attrs

    def running(lease):
        attrs = {**owner_attrs(), "owner_host": "another-host", "lease_until": lease}
        return FrozenTrial(number=0, state=TrialState.RUNNING, value=None, datetime_start=datetime.datetime.now(),
                           datetime_complete=None, params={}, distributions={}, user_attrs=attrs,
                           system_attrs={}, intermediate_values={}, trial_id=0)

    now = time.time()
    assert not is_stale(running(now + LEASE_SECONDS))  # a fresh lease
    assert not is_stale(running(now + LEASE_SECONDS + MAX_CLOCK_SKEW / 2))  # a clock a few minutes fast
    for lease in (now + 365 * 86400, float("inf"), float("nan"), "tomorrow"):
        assert is_stale(running(lease)), lease


def test_an_unreachable_database_is_retried_then_one_line(monkeypatch):
    import optuna

    from scalesearch.search import storage

    monkeypatch.setattr(storage, "OUTAGE_SECONDS", 0.3)
    monkeypatch.setattr(storage.time, "sleep", lambda seconds: None)
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise optuna.exceptions.StorageInternalError("server closed the connection unexpectedly")
        return "ok"

    assert storage.retrying(flaky) == "ok" and len(calls) == 3

    def down():
        raise optuna.exceptions.StorageInternalError("could not connect to server")

    with pytest.raises(storage.StorageError, match="lost the study's storage for over"):
        storage.retrying(down)


def test_a_worker_whose_data_differs_from_the_studys_is_refused_in_one_line(monkeypatch):
    import optuna

    from scalesearch.errors import UserError
    from scalesearch.search import worker
    from scalesearch.search.candidates import GridSpec, build_candidates
    from scalesearch.search.study import SearchConfig, open_study
    from scalesearch.spec.spaces import load_space
    from scalesearch.training.budget import ProxyBudget
    from scalesearch.training.data import load_data
    from scalesearch.training.loop import TrainResult

    space = load_space("resnet18")
    candidates = build_candidates(space, GridSpec(step=0.1))
    config = SearchConfig(space.name, GridSpec(step=0.1), ProxyBudget(epochs=1, train_images=256), data="synthetic",
                          seeds=1, max_trainings=2)
    trained = []
    monkeypatch.setattr(worker, "train_candidate", lambda c, *a, **k: trained.append(c.index) or TrainResult(
        val_accuracy=0.5, test_accuracy=0.5, images_per_second=1.0, epochs=1, seconds=0.0))
    storage = optuna.storages.InMemoryStorage()
    study, _ = open_study(storage, "s", config, space, lambda: candidates)
    ours = load_data("synthetic", train_images=256, val_images=200)
    worker.run_worker(study, candidates, space, config, ours, max_trainings=1)
    assert study.user_attrs["data_digest"] == ours.digest and len(trained) == 1
    assert {t.user_attrs.get("data_digest") for t in study.get_trials()} == {ours.digest}  # per unit
    other = load_data("synthetic", train_images=128, val_images=200)  # other images than the study's
    with pytest.raises(UserError, match=r"is not the data study 's' was trained on \(digest [0-9a-f]{16}, "
                                        r"the study's [0-9a-f]{16}\): point --data-dir at the same files"):
        worker.run_worker(study, candidates, space, config, other)
    assert len(trained) == 1  # nothing trained on the wrong data
