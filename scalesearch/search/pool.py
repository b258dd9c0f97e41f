"""Worker processes on this host sharing one study: `grid --workers N`.

Each worker is a fresh interpreter (multiprocessing, spawn) running the core job it is
given (`grid.run_grid` with `worker_only`), so it imports no CLI and shares nothing with
the parent but the study's storage.  Workers die with their parent on every exit path (processes.py); the
parent hears each worker's trial events through a queue and forwards them to its
display, so only the parent prints.  A worker that stops on a user error hands the
message to the parent, which stops the others and raises it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queues
from typing import Any, Callable

from scalesearch.errors import UserError
from scalesearch.processes import die_with_parent, exit_code, signals_as_interrupt, stop
from scalesearch.search.worker import Event

TICK_SECONDS = 2.0


def run_pool(job: Callable[[Any, Any], Any], request: Any, workers: int,
             on_event: Callable[[Event], None], on_tick: Callable[[], None]) -> None:
    """Run `workers` processes of `job(request, events)` until all finish.

    `job` must be a module-level function (spawn pickles it by name); its events' `trial`
    calls reach `on_event` here."""
    context = multiprocessing.get_context("spawn")
    inbox = context.Queue()
    children = [context.Process(target=_worker_main, args=(job, request, inbox, os.getpid()), daemon=True)
                for _ in range(workers)]
    try:
        for child in children:
            child.start()
        while any(exit_code(c) is None for c in children):
            try:
                kind, payload = inbox.get(timeout=TICK_SECONDS)
            except queues.Empty:
                on_tick()
                continue
            if kind == "event":
                on_event(payload)
            elif kind == "error":
                raise UserError(payload)
        _drain(inbox, on_event)
        failed = [exit_code(c) for c in children if exit_code(c) not in (0, None)]
        if failed:
            raise UserError(f"{len(failed)} of {workers} grid workers failed (exit code {failed[0]}); "
                            "their output is above; run the same command to resume")
    finally:
        stop(children)


def _drain(inbox, on_event: Callable[[Event], None]) -> None:
    while True:
        try:
            kind, payload = inbox.get_nowait()
        except (queues.Empty, EOFError, OSError):
            return
        if kind == "event":
            on_event(payload)
        elif kind == "error":
            raise UserError(payload)


class _Relay:
    """The worker's grid events: trial events go to the parent; nothing is printed."""

    def __init__(self, outbox):
        self.outbox = outbox

    def measuring(self):
        import contextlib
        return contextlib.nullcontext()

    def planned(self, plan) -> None: ...

    def trial(self, event: Event, rows) -> None:
        self.outbox.put(("event", event))

    def tick(self, rows) -> None: ...


def _worker_main(job, request, outbox, parent: int) -> None:
    die_with_parent(parent)
    try:
        with signals_as_interrupt():
            job(request, _Relay(outbox))
    except UserError as error:
        outbox.put(("error", error.template))
        raise SystemExit(1)
    except KeyboardInterrupt:
        raise SystemExit(130)
