"""UserError: the one exception type the CLI turns into a one-line message and exit 1.

Every module raises a subclass of it for bad input (a bad spec, an unknown baseline, a
missing dataset...); anything else is a bug.

The core speaks the user's words, not the command line's: a message names a setting as
a placeholder, ``UserError(f"{{epochs}} must be >= 1, got {value}")``.  `str(error)` writes
the setting by its name in the Python API ("epochs must be >= 1, got 0"), and the CLI
writes its flag ("--epochs must be >= 1, got 0") from the one table of flags next to its
options (`scalesearch.cli.options.flag`).
"""

from __future__ import annotations

import re
from typing import Callable

_SETTING = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class UserError(ValueError):
    """Bad input from the user: the message says what was wrong and how to fix it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.template = str(message)

    def render(self, name: Callable[[str], str] | None = None) -> str:
        """The message with each {setting} written as `name(setting)` (default: the name itself)."""
        name = name or (lambda setting: setting)
        return _SETTING.sub(lambda m: name(m.group(1)), self.template)

    def __str__(self) -> str:
        return self.render()


def check_whole(name: str, value, minimum: int, optional: bool = False) -> None:
    """`value` is an int >= minimum (None when optional); a bool or a float, even 32.0, is
    refused: the API's arguments, checked alike wherever they enter."""
    from numbers import Integral

    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a whole number (int), got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise UserError(f"{name} must be >= {minimum}, got {value}")
