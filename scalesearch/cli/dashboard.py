"""`scalesearch dashboard DIR`: optuna-dashboard on a grid run's study."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from scalesearch.cli.app import command, stderr
from scalesearch.dashboard import DashboardRequest, run_dashboard, study_of


@command("dashboard", "scalesearch dashboard runs/b0-grid --port 8080")
def dashboard(
    run_dir: Annotated[Path, typer.Argument(help="The --out directory of a grid run.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
) -> None:
    """Serve optuna-dashboard on a grid run's study: contour of beta x gamma, alpha, beta, gamma per trial."""
    ref = study_of(run_dir)
    stderr.print(f"study {ref.study!r} in {ref.storage}: http://{host}:{port} (Ctrl-C stops it)")
    try:
        run_dashboard(DashboardRequest(run_dir, host, port))
    except KeyboardInterrupt:
        pass
