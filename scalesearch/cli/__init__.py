"""The command-line interface: one module per command, all registered on one typer app."""

from scalesearch.cli.app import app
from scalesearch.cli import baselines, compare, dashboard, expand, export, grid, launch, profile, report, storage_proxy, train, transfer, worker  # noqa: F401  (each registers its command)


def main() -> None:
    app()


__all__ = ["app", "main"]
