"""Progress of a run made of units (compare, transfer): a bar on a terminal, lines otherwise."""

from __future__ import annotations

import time

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from scalesearch.cli.app import stderr
from scalesearch.runs.compare_units import unit_key


class UnitProgress:
    """A rich bar on stderr whose length is the estimated wall seconds, so its ETA is the
    estimate; one line per finished unit (all a log or a pipe gets), with the seconds it
    took beside the seconds estimated for it.  Units may train `workers` at a time: each
    then moves the bar by its estimate / workers, and is timed from its own start."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.progress: Progress | None = None
        self.estimates: dict[str, float] = {}
        self.workers = 1
        self.started: dict[str, float] = {}

    def begin(self, todo: int, estimates: dict[str, float], workers: int = 1) -> None:
        self.estimates, self.workers = estimates, max(1, workers)
        total = sum(estimates.values()) / self.workers
        if not todo or not stderr.is_terminal:
            return
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                                 TextColumn("left"), TimeRemainingColumn(), console=stderr, transient=True)
        self.progress.start()
        self.task = self.progress.add_task(self.name, total=max(total, 1e-9))

    def note(self, text: str) -> None:
        stderr.print(f"note: {text}", markup=False)

    def unit_started(self, item, seed_index: int) -> None:
        self.started[unit_key(item.key, seed_index)] = time.perf_counter()
        if self.progress:
            self.progress.update(self.task, description=f"{item.key} seed {seed_index}")

    def unit_done(self, item, seed_index: int, record: dict) -> None:
        key = record["key"]
        if self.progress:
            self.progress.advance(self.task, self.estimates.get(key, 0.0) / self.workers)
            if self.progress.finished:
                self.progress.stop()
        start = self.started.pop(key, None)
        took = time.perf_counter() - start if start is not None else 0.0
        if record.get("status") == "ok":
            test = record.get("test_accuracy")
            tested = f", test {test:.2%}" if isinstance(test, float) and test == test else ""
            stderr.print(f"  {key}: val {record['val_accuracy']:.2%}{tested} "
                         f"({took:.0f} s, estimated {self.estimates.get(key, 0):.0f} s)")
        else:
            stderr.print(f"  {key}: {record.get('status')}: {record.get('message', '')}")


def duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min"
