"""Worker processes on this host sharing one study: `grid --workers N`.

Each worker is a fresh interpreter (multiprocessing, spawn) running the core job it is
given (`grid.run_grid` with `worker_only`), so it imports no CLI and shares nothing with
the parent but the study's storage.  Workers die with their parent on every exit path (processes.py); the
parent hears each worker's trial events through a queue and forwards them to its
display, so only the parent prints.  A worker that stops on a user error hands the
message to the parent, which stops the others and raises it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queues
from dataclasses import dataclass
from typing import Any, Callable

from scalesearch.errors import UserError
from scalesearch.processes import die_with_parent, exit_code, signals_as_interrupt, stop
from scalesearch.device import available_cores
from scalesearch.training.fastest import choose_workers

TICK_SECONDS = 2.0


@dataclass(frozen=True)
class ProcessPlan:
    workers: int
    threads: int  # per worker
    why: str


SHORT_RUN_SECONDS = 60.0  # less training than this, and measuring the layout costs more than it can win


def plan_processes(workers: int | None, threads: int | None, device: str, network, shape: tuple[int, int, int],
                   num_classes: int, batch_size: int, seconds: float | None = None) -> ProcessPlan:
    """How many worker processes, with how many threads each: what the user said, or
    (neither said, on a CPU) the faster of one process with every core and one
    single-thread process per core, measured for `network` on this machine
    (training/fastest.py).  `seconds`, the run's training time in one process when known:
    under SHORT_RUN_SECONDS one process takes every core unmeasured, since timing the
    layouts (a few processes started and timed) would take longer than the run."""
    cores = available_cores()
    if device != "cpu":
        return _plan(workers or 1, threads or 1, "on a GPU: one process per device")
    if workers is not None:
        return _plan(workers, threads or max(1, cores // workers), "as asked")
    if threads is not None:
        return _plan(max(1, cores // threads), threads, "as asked")
    if seconds is not None and seconds < SHORT_RUN_SECONDS:
        return _plan(1, cores, f"not measured: about {seconds:.0f} s of training, less than measuring takes")
    layout = choose_workers(network, shape, num_classes, batch_size, cores)
    return ProcessPlan(layout.workers, layout.threads, layout.why)


def _plan(workers: int, threads: int, why: str) -> ProcessPlan:
    return ProcessPlan(workers, threads, f"{workers} worker(s) x {threads} thread(s), {why}")


def run_pool(job: Callable[[Any, Any], Any], requests: Any, workers: int,
             on_event: Callable[[str, tuple], None], on_tick: Callable[[], None] = lambda: None) -> None:
    """Run `workers` processes of `job(request, events)` until all finish.

    `job` must be a module-level function (spawn pickles it by name); `requests` is one
    request for every worker, or a list with one each.  Every call a worker's job makes
    on its events object reaches `on_event(name, args)` here (arguments that cannot
    cross a process, such as callbacks, are left out)."""
    context = multiprocessing.get_context("spawn")
    inbox = context.Queue()
    each = requests if isinstance(requests, list) else [requests] * workers
    children = [context.Process(target=_worker_main, args=(job, request, inbox, os.getpid()), daemon=True)
                for request in each]
    try:
        for child in children:
            child.start()
        while any(exit_code(c) is None for c in children):
            try:
                kind, payload = inbox.get(timeout=TICK_SECONDS)
            except queues.Empty:
                on_tick()
                continue
            _handle(kind, payload, on_event)
        _drain(inbox, on_event)
        failed = [exit_code(c) for c in children if exit_code(c) not in (0, None)]
        if failed:
            raise UserError(f"{len(failed)} of {workers} grid workers failed (exit code {failed[0]}); "
                            "their output is above; run the same command to resume")
    finally:
        stop(children)


def _handle(kind: str, payload: Any, on_event: Callable[[str, tuple], None]) -> None:
    if kind == "event":
        on_event(*payload)
    elif kind == "error":
        raise UserError(payload)


def _drain(inbox, on_event: Callable[[str, tuple], None]) -> None:
    while True:
        try:
            kind, payload = inbox.get_nowait()
        except (queues.Empty, EOFError, OSError):
            return
        _handle(kind, payload, on_event)


class _Relay:
    """A worker's events object: every call is sent to the parent; nothing is printed."""

    def __init__(self, outbox):
        self.outbox = outbox

    def measuring(self):
        return contextlib.nullcontext()

    def __getattr__(self, name: str) -> Callable[..., None]:
        if name.startswith("_"):
            raise AttributeError(name)

        def send(*args: Any) -> None:
            self.outbox.put(("event", (name, tuple(a for a in args if not callable(a)))))
        return send


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
