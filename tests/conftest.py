"""Shared fixtures: the CLI runner with a pinned terminal width, repo paths."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def _private_layout_cache(tmp_path_factory):
    """Speed measurements (training/fastest.py) go to a cache of the test session's own, not the user's."""
    import os

    os.environ["SCALESEARCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
EXAMPLES = REPO / "searchspaces" / "examples"


@pytest.fixture
def cli(monkeypatch):
    """Invoke the scalesearch app in-process: cli("profile", "-b", "resnet50") -> Result."""
    from scalesearch.cli import app

    monkeypatch.setenv("COLUMNS", "120")
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args])

    return invoke


PG_BIN = Path("/usr/lib/postgresql/15/bin")


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 for this test session (Debian's package,
    installed by .ci/run). initdb refuses root, so the server runs as `postgres`."""
    import shutil
    import socket
    import subprocess
    import tempfile

    if not (PG_BIN / "initdb").exists():
        pytest.fail("PostgreSQL 15 is not installed: apt-get install -y postgresql (.ci/run does)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(tempfile.mkdtemp(prefix="scalesearch-pg-"))
    shutil.chown(root, "postgres", "postgres")

    def as_postgres(*args: str) -> None:
        command = " ".join(f"'{a}'" for a in args)
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command], check=True,
                       capture_output=True, timeout=120)

    as_postgres(str(PG_BIN / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres")
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w",
                "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")
    as_postgres(str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "scalesearch")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/scalesearch"
    finally:
        as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def plumbing(monkeypatch):
    """Trust every training (training/health.py's HEALTH_ENV): for the end-to-end tests whose
    budgets of a few steps exercise workers, storage and resume, not learning. Workers they
    start inherit it."""
    from scalesearch.training import health

    monkeypatch.setenv(health.HEALTH_ENV, "off")
