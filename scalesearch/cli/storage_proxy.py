"""`scalesearch storage-proxy`: Optuna's gRPC storage proxy, so many workers share few connections."""

from __future__ import annotations

from typing import Annotated

import typer

from scalesearch.cli.app import command, stderr
from scalesearch.errors import UserError
from scalesearch.search.storage import serve_proxy


@command("storage-proxy", "scalesearch storage-proxy --storage postgresql://user@db-host/scalesearch --port 13000")
def storage_proxy(
    storage: Annotated[str, typer.Option(help="The RDB storage to serve: postgresql://..., mysql://..., sqlite:///FILE.")],
    host: Annotated[str, typer.Option(help="Address to listen on: 127.0.0.1 (this host only) by default. The proxy has no authentication: 0.0.0.0 lets anyone who reaches the port read and write the studies, so expose it only on a network you trust.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (1-65535).")] = 13000,
) -> None:
    """Serve a study database to workers over gRPC: grid and worker then take --storage grpc://HOST:PORT.

    One proxy holds a few database connections however many workers it serves (Optuna's
    GrpcStorageProxy, experimental since Optuna 4.2; it cannot serve journal files). Runs until
    interrupted.
    """
    if not 1 <= port <= 65535:
        raise UserError(f"{{port}} must be between 1 and 65535, got {port}")
    stderr.print(f"storage proxy for {storage.split('@')[-1]} on {host}:{port} (Ctrl-C stops it)", markup=False)
    try:
        serve_proxy(storage, host, port)
    except KeyboardInterrupt:
        pass
