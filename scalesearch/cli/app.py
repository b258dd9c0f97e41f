"""The typer app, the output formats, and the user-error boundary.

Commands register with `@command(...)`: a UserError raised anywhere below becomes one
line on stderr (its settings written as this CLI's flags) and exit code 1; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import enum
import functools
import json
import shlex
import sys
from typing import Annotated, Any, Callable

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scalesearch.errors import UserError
from scalesearch.cli.options import flag
from scalesearch.runs.files import jsonable

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
            try:
                return fn(*args, **kwargs)
            except UserError as error:
                fail(error.render(flag))

        doc = (fn.__doc__ or "").strip()
        guarded.__doc__ = f"{doc}\n\nExample:\n\n    {example}"
        app.command(name)(guarded)
        return fn

    return register


def fail(message: str) -> None:
    """Print one line naming what was wrong (settings as flags) and exit 1."""
    line = " ".join(UserError(str(message)).render(flag).split())
    text = Text("error: ", style="bold red")
    text.append(line)
    stderr.print(text, soft_wrap=True)
    raise typer.Exit(1)


def command_line() -> str:
    """How this command was invoked, for run.json and reports."""
    return shlex.join(["scalesearch", *sys.argv[1:]])


def print_json(payload: Any) -> None:
    sys.stdout.write(json.dumps(jsonable(payload), indent=2) + "\n")


def print_table(table: Table) -> None:
    Console(highlight=False).print(table)


def emit(fmt: OutputFormat, payload: Any, table: Callable[[], Table]) -> None:
    """Print the result in the chosen format (JSON: exactly one document on stdout)."""
    if fmt is OutputFormat.json:
        print_json(payload)
    else:
        print_table(table())
