"""The typer app, the output formats, and the user-error boundary.

Commands register with `@command(...)`.  One error path: a UserError raised anywhere
below becomes one line on stderr (its settings written as this CLI's flags) and exit
code 1; a disk that is full or a folder that cannot be written is a user error too
(one line naming the path); anything else is a bug: one line saying so, the traceback
saved to a file whose path the line gives, and exit code 2.  Ctrl-C, SIGTERM (what a
scheduler sends) and SIGHUP end every command alike: the write in progress is finished
or dropped (files.py writes via a temporary sibling), and the command exits 130
with one line saying how to resume.
"""

from __future__ import annotations

import enum
import errno
import functools
import json
import os
import signal
import shlex
import sys
import tempfile
import time
import traceback
import typing
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Callable

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from scalesearch.errors import UserError
from scalesearch.costs import guard
from scalesearch.processes import signals_as_interrupt
from scalesearch.cli.options import flag
from scalesearch.files import jsonable
from scalesearch.runs.locks import release_runs

app = typer.Typer(
    name="scalesearch",
    help="EfficientNet-style compound scaling: search alpha, beta, gamma; expand the family; compare.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class OutputFormat(str, enum.Enum):
    table = "table"
    json = "json"


FormatOption = Annotated[OutputFormat, typer.Option(
    "--format", help="table for people; json prints one JSON document on stdout and nothing else.")]
BaselineOption = Annotated[str, typer.Option(
    "--baseline", "-b", help="Built-in name (see `scalesearch baselines`), a .yaml search space, or package.module:factory.")]


def command(name: str, example: str) -> Callable:
    """Register a command whose help ends with an example, behind the user-error boundary."""

    def register(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            budget = os.environ.get(guard.ENV)  # --max-memory holds for this command only
            running = _running.set(fn)
            try:
                with signals_as_interrupt():
                    return fn(*args, **kwargs)
            except UserError as error:
                fail(error.render(own_flag))
            except (typer.Exit, typer.Abort, SystemExit):
                raise
            except KeyboardInterrupt:
                if OWN_PROCESS:
                    # The command has unwound and the process exits 130: a late signal must
                    # not turn that exit into a death by the signal (seen once in the test
                    # suite: export ended by SIGINT, -2, after printing the hint).
                    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
                        signal.signal(s, signal.SIG_IGN)
                stderr.print(INTERRUPTED, markup=False)
                raise typer.Exit(130)
            except OSError as error:
                if error.errno not in DISK_ERRORS:
                    bug(error)
                fail(f"cannot write {error.filename or 'a file'}: {error.strerror}; free space or choose "
                     "another {out} (finished results are kept; rerun to resume)")
            except Exception as error:  # a bug: say so in one line, keep the traceback in a file
                bug(error)
            finally:
                _running.reset(running)
                release_runs()  # the command is over, however it ended: its runs are no longer live
                if budget is None:
                    os.environ.pop(guard.ENV, None)
                else:
                    os.environ[guard.ENV] = budget

        doc = (fn.__doc__ or "").strip()
        guarded.__doc__ = f"{doc}\n\nExample:\n\n    {example}"
        app.command(name)(guarded)
        return fn

    return register


INTERRUPTED = "interrupted: every finished result is kept; run the same command to resume"
# True when the CLI is this process's program (cli.main), not called inside another
# (a test's CliRunner, a notebook): only then may an interrupted command ignore signals.
OWN_PROCESS = False
DISK_ERRORS = (errno.ENOSPC, errno.EACCES, errno.EROFS, errno.EDQUOT, errno.EPERM)


def bug(error: BaseException) -> None:
    """One line saying this is scalesearch's fault, with where its traceback is; exit 2."""
    folder = Path(os.environ.get("SCALESEARCH_CACHE") or Path(tempfile.gettempdir()))
    path = folder / f"scalesearch-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(error)))
        where = f"traceback saved to {path}"
    except OSError:
        where = "its traceback could not be saved"
    first = " ".join(str(error).split())[:200]
    stderr.print(Text(f"error: internal error (a bug in scalesearch, please report it): "
                      f"{type(error).__name__}: {first}; {where}"), soft_wrap=True)
    raise typer.Exit(2)


_running: ContextVar[Callable | None] = ContextVar("running command", default=None)


def own_flag(setting: str) -> str:
    """The flag for `setting` where the running command accepts it; else the setting's own
    name, so that no message suggests an option its command lacks."""
    name = flag(setting)
    fn = _running.get()
    return name if fn is None or name in _flags_of(fn) else setting


@functools.lru_cache(maxsize=None)
def _flags_of(fn: Callable) -> frozenset[str]:
    """The long flags a command function declares (typer: an option's own names, or --NAME)."""
    flags = set()
    hints = typing.get_type_hints(fn, include_extras=True)
    hints.pop("return", None)
    for name, hint in hints.items():
        declared = [d for m in getattr(hint, "__metadata__", ()) for d in _declared(m)]
        if declared:
            flags.update(d for d in declared if d.startswith("--"))
        else:
            flags.add("--" + name.replace("_", "-"))
    return frozenset(flags)


def _declared(info: Any) -> list[str]:
    # Annotated typer options carry their names in param_decls, or the first in `default`.
    names = list(getattr(info, "param_decls", None) or ())
    first = getattr(info, "default", None)
    return names + ([first] if isinstance(first, str) and first.startswith("-") else [])


def fail(message: str) -> None:
    """Print one line naming what was wrong (settings as this command's flags) and exit 1."""
    line = " ".join(UserError(str(message)).render(own_flag).split())
    text = Text("error: ", style="bold red")
    text.append(line)
    stderr.print(text, soft_wrap=True)
    raise typer.Exit(1)


def command_line() -> str:
    """How this command was invoked, for run.json and reports."""
    return shlex.join(["scalesearch", *sys.argv[1:]])


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(payload), indent=2) + "\n")


def print_table(table: Table | Group) -> None:
    """Print a table whole: a file or pipe gets it at its natural width (logs of long runs
    are read later, and a cut number "5,288…" is a lost number); a narrow terminal folds
    cells onto more lines instead of cutting them."""
    console = Console(highlight=False)
    if not console.is_terminal:
        wide = Console(highlight=False, width=100_000)
        console = Console(highlight=False, width=max(console.width, wide.measure(table).maximum))
    for part in getattr(table, "renderables", [table]):  # a Table, or a Group of them
        for column in getattr(part, "columns", []):
            column.no_wrap, column.overflow = False, "fold"
    console.print(table)


def emit(fmt: OutputFormat, payload: Any, table: Callable[[], Table]) -> None:
    """Print the result in the chosen format (JSON: exactly one document on stdout)."""
    if fmt is OutputFormat.json:
        print_json(payload)
    else:
        print_table(table())
