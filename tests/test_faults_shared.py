"""A shared study is untrusted input, secrets stay secret, refused grids claim nothing (issue reliability-4).

Each case here failed on the code before it: a study could make its workers import a factory
from their working folder, a storage password was written into run.json, best.json, the
study and the terminal, storage-proxy listened on every interface and took any port, and a
grid refused for its target or an empty grid had claimed its folder first.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import optuna
import pytest

from scalesearch.search.storage import open_storage, redact
from tests.tiny import DATA

TINY_GRID = ["--step", "0.4", "--epochs", "1", "--train-images", "128", "--val-images", "64",
             "--test-images", "64", "--batch-size", "64", "--resolution", "32", "--device", "cpu", "--data", DATA]


@pytest.mark.parametrize("url, shown", [
    ("postgresql://u:PW@db-host:5432/db", "postgresql://u:***@db-host:5432/db"),
    ("postgresql://u@db-host/db", "postgresql://u@db-host/db"),
    ("postgresql+psycopg://u:p%40ss@h/db", "postgresql+psycopg://u:***@h/db"),
    ("journal:runs/x/study.journal", "journal:runs/x/study.journal"), (None, None),
])
def test_a_storage_url_is_shown_without_its_password(url, shown):
    assert redact(url) == shown


def test_a_study_naming_a_factory_makes_no_worker_import_it(cli, tmp_path, monkeypatch):
    """A crafted study: its baseline names `evil:x`, and evil.py lies in the worker's folder."""
    storage = f"journal:{tmp_path / 'study.journal'}"
    made = cli("grid", "-b", "resnet18", *TINY_GRID, "--storage", storage, "--study", "s", "--workers", "0",
               "--out", tmp_path / "run")
    assert made.exit_code == 0, made.output
    study = optuna.load_study(study_name="s", storage=open_storage(storage, tmp_path))
    study.set_user_attr("request", {**study.user_attrs["request"], "baseline": "evil:x"})
    planted = tmp_path / "planted"
    (tmp_path / "evil.py").write_text(f"open({str(planted)!r}, 'w').write('ran')\ndef x(**kw): pass\n")
    monkeypatch.chdir(tmp_path)
    result = cli("worker", "--storage", storage, "--study", "s", "--device", "cpu")
    assert result.exit_code == 1 and "names the factory 'evil:x'" in result.stderr
    assert "--allow-factory evil:x" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not planted.exists()  # nothing in evil.py ran


@pytest.mark.parametrize("change, message", [
    ({"seeds": "3"}, "seeds = '3' is not a whole number or null"),
    ({"confidence": 1e309}, "confidence = inf is not a finite number"),
    ({"worker_only": "yes"}, "worker_only = 'yes' is not true or false"),
    ({"epochs": 2.5}, "epochs = 2.5 is not a whole number or null"),
    ({"baseline": ["resnet18"]}, "baseline = ['resnet18'] is not text"),
    ({"proxy": "lr: 9"}, "proxy = 'lr: 9' is not dict or null"),
    ("not a record", "its request is not a record"),
])
def test_a_study_holding_a_malformed_request_is_refused_field_by_field(cli, tmp_path, change, message):
    storage = f"journal:{tmp_path / 'study.journal'}"
    made = cli("grid", "-b", "resnet18", *TINY_GRID, "--storage", storage, "--study", "s", "--workers", "0",
               "--out", tmp_path / "run")
    assert made.exit_code == 0, made.output
    study = optuna.load_study(study_name="s", storage=open_storage(storage, tmp_path))
    study.set_user_attr("request", {**study.user_attrs["request"], **change} if isinstance(change, dict) else change)
    result = cli("worker", "--storage", storage, "--study", "s", "--device", "cpu")
    assert result.exit_code == 1 and message in result.stderr, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and "internal error" not in result.stderr


def test_a_grid_refused_for_its_target_or_an_empty_grid_claims_nothing(cli, tmp_path):
    for extra, fragment in ((["--target", "1.0000001"], "within 5% of 1"), (["--target", "1e308"], "at most 1000"),
                            (["--target", "0.5", "--low", "0.99"], "the grid is empty")):
        result = cli("grid", "-b", "resnet18", *TINY_GRID, "--out", tmp_path / "run", *extra)
        assert result.exit_code == 1 and fragment in result.stderr, (extra, result.output)
        assert not (tmp_path / "run").exists()
    fixed = cli("grid", "-b", "resnet18", *TINY_GRID, "--out", tmp_path / "run", "--workers", "0")
    assert fixed.exit_code == 0, fixed.output  # the corrected command is not refused


def test_storage_proxy_refuses_a_port_out_of_range_and_listens_on_loopback_by_default(cli):
    result = cli("storage-proxy", "--storage", "sqlite:///nothing.db", "--port", "70000")
    assert result.exit_code == 1 and "--port must be between 1 and 65535" in result.stderr
    from scalesearch.cli.storage_proxy import storage_proxy
    import inspect

    assert inspect.signature(storage_proxy).parameters["host"].default == "127.0.0.1"


def test_the_grpc_extra_brings_protobuf():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(r.startswith("protobuf") for r in extras["grpc"]) and any(r.startswith("grpcio") for r in extras["grpc"])


@pytest.mark.slow
def test_no_file_or_line_a_grid_writes_holds_the_storage_password(cli, postgres_url, tmp_path):
    """A real PostgreSQL (trust authentication: it takes any password), a password in the URL."""
    secret = "Sup3rSecretPW"
    url = postgres_url.replace("postgres@", f"postgres:{secret}@")
    run = tmp_path / "run"
    made = cli("grid", "-b", "resnet18", *TINY_GRID, "--storage", url, "--study", f"pw_{tmp_path.name[-10:]}",
               "--workers", "0", "--out", run, "--format", "json")
    assert made.exit_code == 0, made.output
    assert secret not in made.stdout and secret not in made.stderr
    assert ":***@" in json.loads(made.stdout)["storage"] and "PGPASSWORD" in made.stderr
    for path in run.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    study = optuna.load_study(study_name=f"pw_{tmp_path.name[-10:]}", storage=open_storage(url, tmp_path))
    assert secret not in json.dumps(study.user_attrs)
    # The URL as the hint prints it (*** for the password) opens the same database.
    assert optuna.load_study(study_name=study.study_name, storage=open_storage(redact(url), tmp_path)).user_attrs


# -- signals from the first instant ------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_while_the_cli_loads_is_one_line_and_exit_130(sig):
    """Before: SIGTERM -> 143, SIGHUP -> 129, Ctrl-C -> a traceback, until the heavy
    imports were done and a command's handlers were in."""
    child = subprocess.Popen([sys.executable, "-c", "from scalesearch.__main__ import run; run()", "baselines"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # inside the imports (torch alone takes over a second)
    child.send_signal(sig)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, (child.returncode, err)
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("scalesearch: interrupted")


# -- measure and factories: the arguments and the memory guard ---------------------------------

@pytest.mark.parametrize("resolution", [True, 32.5])
def test_measure_refuses_a_resolution_that_is_not_a_whole_number(resolution):
    import scalesearch
    model = scalesearch.build_model("resnet18", num_classes=10)
    with pytest.raises(TypeError, match="resolution must be a whole number"):
        scalesearch.measure(model, resolution=resolution)


def test_measure_and_a_factory_at_an_absurd_resolution_are_refused_before_any_memory(monkeypatch):
    """resolution 100000 asked for ~120 GB through fvcore's trace; now one line, at once."""
    import scalesearch
    from torch import nn
    from scalesearch.errors import UserError
    model = scalesearch.build_model("resnet18", num_classes=10)
    with pytest.raises(UserError, match="would need about"):
        scalesearch.measure(model, resolution=100000)
    plain = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten())
    with pytest.raises(UserError, match="this module at 100000 px would need about"):
        scalesearch.measure(plain, resolution=100000)
    from scalesearch.costs.variant import Variant
    from scalesearch.spec.spaces import load_space
    from tests.conftest import EXAMPLES
    monkeypatch.syspath_prepend(str(EXAMPLES))
    huge = Variant(load_space("plain_cnn:plain_cnn"), resolution=100000)
    with pytest.raises(UserError, match="plain_cnn at d=1, w=1, 100000 px would need about"):
        huge.cost()
