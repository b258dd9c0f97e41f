"""The command-line interface: one module per command, all registered on one typer app."""

import importlib

from scalesearch.cli.app import app
from scalesearch.cli import baselines, compare, dashboard, expand, export, grid, launch, profile, report, storage_proxy, train, transfer, worker  # noqa: F401  (each registers its command)


def main() -> None:
    # The module, not the typer app this package re-exports under the same name.
    importlib.import_module("scalesearch.cli.app").OWN_PROCESS = True
    app()


__all__ = ["app", "main"]
