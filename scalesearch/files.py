"""Files of a run directory: atomic writes, JSON that every reader can load, and
append-only records that survive a kill mid-write.

Every result file is written to a temporary sibling and renamed into place, so a reader
(or `scalesearch report`) never sees half a file, even if the run is killed mid-write.
A temporary sibling (`temporary_sibling`) is named `.NAME.PID-XXXX.tmp[.suffix]`: an
interrupted write removes its own, and one left by a SIGKILLed process (whose PID is gone)
is removed by the next run into that folder (`remove_stale_temporaries`).
Append-only files (units.jsonl, the Optuna journal) get `repair_torn_tail`: a record cut
short by a kill or a full disk is set aside in `FILE.torn`, every complete record stays,
and the next append starts on a fresh line instead of gluing onto the torn one.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from scalesearch.errors import UserError


def check_free_space(folder: str | Path, need: int, what: str) -> None:
    """Refuse to start `what` where the disk cannot take `need` bytes (one line, nothing written)."""
    folder = Path(folder)
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return
    if free < need:
        raise UserError(f"{folder}: only {free / 2**20:.1f} MB free, {what} needs about {need / 2**20:.0f} MB; "
                        "free some space or choose another {out}")


def repair_torn_tail(path: str | Path) -> str | None:
    """Set a torn last record aside in `path.torn`; say so in one sentence (None: intact).

    A record is one line of JSON ending in a newline: a last line without its newline, or
    one that does not parse, was cut short.  Everything before it is kept.
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return None
    raw = path.read_bytes()
    cut = raw.rfind(b"\n", 0, len(raw) - 1 if raw.endswith(b"\n") else len(raw)) + 1
    last = raw[cut:]
    if raw.endswith(b"\n"):
        try:
            json.loads(last)
            return None
        except (ValueError, UnicodeDecodeError):
            pass
    with open(path.with_name(path.name + ".torn"), "ab") as torn:
        torn.write(last + (b"" if last.endswith(b"\n") else b"\n"))
    with open(path, "r+b") as handle:
        handle.truncate(cut)
        handle.flush()
        os.fsync(handle.fileno())
    return (f"{path}: its last record ({len(last)} bytes) was cut short, by a kill or a full disk; "
            f"it is set aside in {path.name}.torn and every complete record is kept")


def append_line(path: str | Path, line: str) -> None:
    """Append one record and make it durable before going on (a torn tail is repaired first)."""
    repair_torn_tail(path)
    with open(path, "a") as handle:
        handle.write(line.rstrip("\n") + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@contextmanager
def temporary_sibling(path: str | Path) -> Iterator[Path]:
    """A temporary file beside `path` for the block to write; renamed onto `path` when the
    block ends normally, removed when it raises (Ctrl-C and SIGTERM included)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}-",
                               suffix=".tmp" + path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_TEMPORARY = re.compile(r"^\..+\.(\d+)-[A-Za-z0-9_]+\.tmp(\.[A-Za-z0-9]+)?$")


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Remove the temporary siblings in `folder` whose writer is dead (killed mid-write)."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        match = _TEMPORARY.match(path.name)
        if match and not _alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode() if isinstance(data, str) else data
    with temporary_sibling(path) as tmp, os.fdopen(os.open(tmp, os.O_WRONLY | os.O_TRUNC), "wb") as handle:
        handle.write(raw)
    return path


def jsonable(value: Any) -> Any:
    # NaN / inf are not JSON: write null so every JSON reader can load the file.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | Path, payload: Any) -> Path:
    return write_atomic(path, json.dumps(jsonable(payload), indent=2) + "\n")


def read_text(path: str | Path, what: str = "file") -> str:
    """A text file's contents, or one line saying why it cannot be read (missing, a folder,
    not text)."""
    path = Path(path)
    try:
        return path.read_text()
    except FileNotFoundError:
        raise UserError(f"{path}: no such {what}") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not a {what}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a text {what} (binary content)") from None
    except OSError as error:
        raise UserError(f"{path}: cannot read it ({error.strerror})") from None


def read_json(path: str | Path) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        line = getattr(error, "lineno", None)
        where = f" (line {line})" if line else ""
        raise UserError(f"{path}: not valid JSON{where}; was the run interrupted?") from None
