"""The command-line interface: one module per command, all registered on one typer app."""

import importlib
import os
import sys

from scalesearch.cli.app import app
from scalesearch.cli import baselines, calibrate, compare, dashboard, expand, export, grid, launch, profile, report, storage_proxy, train, transfer, worker  # noqa: F401  (each registers its command)


def main() -> None:
    """The `scalesearch` program.  An interrupted command exits 130 and nothing else: once
    it has printed its hint (or a signal lands in its clean-up), the process leaves by
    `os._exit(130)`, so no later KeyboardInterrupt can turn the exit into a death by
    SIGINT (-2), which CPython does for one that escapes to the top (seen in the test
    suite: export, signalled once, printed the hint and died by -2)."""
    # The module, not the typer app this package re-exports under the same name.
    importlib.import_module("scalesearch.cli.app").OWN_PROCESS = True
    try:
        app()
    except SystemExit as done:
        if done.code != 130:
            raise
        _leave(130)
    except KeyboardInterrupt:
        _leave(130)


def _leave(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


__all__ = ["app", "main"]
