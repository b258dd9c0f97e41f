"""`scalesearch worker`: join a grid's study by storage URL and study name, train until done."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from scalesearch.cli.app import FormatOption, OutputFormat, command, print_json, stderr
from scalesearch.cli.grid import LogDisplay
from scalesearch.cli.options import DataDirOption, DeviceOption, MaxMemoryOption, shared_parts
from scalesearch.join import JoinRequest, run_join
from scalesearch.costs.guard import set_memory_budget


@command("worker", "scalesearch worker --storage postgresql://user@db-host/scalesearch --study grid-resnet50")
def worker(
    storage: Annotated[str, typer.Option(help="The study's Optuna storage: postgresql://..., grpc://HOST:PORT, journal:PATH.")],
    study: Annotated[str, typer.Option(help="The study's name (grid prints it; default grid-BASELINE).")],
    data_dir: DataDirOption = None,
    device: DeviceOption = "auto",
    threads: Annotated[Optional[int], typer.Option(help="Threads for this worker (default: every core it may use).")] = None,
    max_memory: MaxMemoryOption = None,
    allow_factory: Annotated[Optional[list[str]], typer.Option(help="A module:function factory this worker may import when the study names it as its baseline (a study is input from elsewhere: by default a worker runs no code it names).")] = None,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Train units of a study that `scalesearch grid` set up (e.g. with --workers 0), with no other options.

    Everything else (space, grid, budget, data source, seeds, racing) is read from the study.
    Start as many as you like, on any host that reaches the storage; each exits 0 when
    nothing is left. A killed worker loses only the unit it was training, which is retried.
    """
    set_memory_budget(max_memory)
    display = LogDisplay()
    try:
        result = run_join(JoinRequest(storage, study, allow_factory=tuple(allow_factory or ()),
                                      **shared_parts(JoinRequest, locals())), display)
    finally:
        display.close()
    line = f"worker: nothing left to train in study {result.study!r} ({result.trained} unit(s) trained here)"
    if format is OutputFormat.json:
        print_json({"study": result.study, "baseline": result.baseline, "trained": result.trained})
    stderr.print(line, markup=False)
