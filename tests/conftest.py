"""Shared fixtures: the CLI runner with a pinned terminal width, repo paths."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
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
