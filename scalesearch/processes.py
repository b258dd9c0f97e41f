"""Child processes that never outlive their parent.

Grid workers and training ranks are separate interpreters; a parent that dies by any
signal, SIGKILL included, must take them along, or they keep a core busy and a trial
RUNNING.  Each child asks the kernel for SIGKILL when its parent dies
(`die_with_parent`, Linux's PR_SET_PDEATHSIG) and checks that the parent did not die
before it asked; the parent stops its children on every ordinary exit (`stop`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from typing import Iterator, Protocol

PR_SET_PDEATHSIG = 1


class Child(Protocol):
    def poll(self) -> int | None: ...
    def terminate(self) -> None: ...
    def kill(self) -> None: ...


def die_with_parent(parent: int) -> None:
    """In a child: be SIGKILLed when `parent` dies; exit now if it already has."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the parent's `stop` is all there is
        pass
    if parent and os.getppid() != parent:
        os._exit(1)


def exit_code(child) -> int | None:
    """A subprocess.Popen's or multiprocessing.Process's exit code (None while running)."""
    if isinstance(child, subprocess.Popen):
        return child.poll()
    return child.exitcode


def stop(children: list, grace: float = 5.0) -> None:
    """SIGTERM every live child (each marks its work failed), SIGKILL after `grace` s."""
    live = [c for c in children if exit_code(c) is None]
    for child in live:
        child.terminate()
    deadline = time.monotonic() + grace
    for child in live:
        _join(child, max(0.0, deadline - time.monotonic()))
        if exit_code(child) is None:
            child.kill()
            _join(child, None)


def _join(child, timeout: float | None) -> None:
    if isinstance(child, subprocess.Popen):
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
    else:
        child.join(timeout)


@contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C (SIGINT), so `finally` blocks stop children,
    drop a half-written file and mark a running trial failed.  Only the first signal
    interrupts: a second one (a scheduler's repeat, an impatient Ctrl-C) must not cut the
    clean-up short and leave a temporary file.  Only the main thread may set handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def interrupt(signum, frame):
        if fired:
            return
        fired.append(signum)
        raise KeyboardInterrupt(f"signal {signum}")

    before = {s: signal.signal(s, interrupt) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)
