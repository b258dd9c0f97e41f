"""Who is working in a run directory right now: advisory file locks that die with their holder.

Two questions need an answer that a kill cannot leave stale, so both are `flock`s (the
kernel drops them when the process ends, SIGKILL included), never marker files:

- Is a run live here?  Every command that claims a directory holds a *shared* lock on
  `run.lock` until it ends (`hold_run`, `release_run`); `run_is_live` asks whether
  anybody holds it.  Several processes may share one run (two `compare` on one folder,
  grid workers), so the lock is shared; `report` and the claim of a failed start ask.
- Who trains this unit?  `claim_unit` takes an exclusive lock on one file per unit
  under `.claims/`, so two processes on one directory each train what the other has not
  taken, and one that finds a unit taken waits for it instead of training it twice.
"""

from __future__ import annotations

import fcntl
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

LOCK_FILE = "run.lock"
CLAIMS = ".claims"

_held: dict[Path, int] = {}  # run directory -> the fd whose shared lock says "live"


def run_is_live(run_dir: str | Path) -> bool:
    """Whether a process (this one included) holds `run_dir`'s run lock."""
    key = Path(run_dir).resolve()
    if key in _held:
        return True
    if not (key / LOCK_FILE).is_file():
        return False
    fd = os.open(key / LOCK_FILE, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def hold_run(run_dir: str | Path) -> None:
    """Mark `run_dir` live for as long as this process works in it (until released)."""
    key = Path(run_dir).resolve()
    if key in _held:
        return
    fd = os.open(key / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    _held[key] = fd


def release_run(run_dir: str | Path) -> None:
    """This process is done in `run_dir` (its results are written)."""
    fd = _held.pop(Path(run_dir).resolve(), None)
    if fd is not None:
        os.close(fd)


def release_runs() -> None:
    """Drop every run lock this process holds (a command's end, however it ended)."""
    while _held:
        _, fd = _held.popitem()
        os.close(fd)


@contextmanager
def claim_unit(run_dir: str | Path, key: str, wait: bool) -> Iterator[bool]:
    """Hold unit `key` of `run_dir` exclusively: yields True when this process has it,
    False when another live process trains it (only when `wait` is False)."""
    folder = Path(run_dir) / CLAIMS
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", key) + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
