"""What users extend, kept as named entries: one `Registry` per kind of thing.

Block kinds (blocks/registry.py), costs (costs/kinds.py), compare methods (spec/methods.py)
and export formats (models/export_formats.py) are each a `Registry`: a dict from name to
entry, in the order the entries were registered, that refuses a name twice (a ValueError:
a programming mistake, found at import), looks a name up for a user (a UserError that
lists the known names) and writes every entry into one help text.  The timm habit
(`@register_model`, `list_models`), in one place instead of once per kind.
"""

from __future__ import annotations

from typing import Callable, Dict, TypeVar

from scalesearch.errors import UserError

Entry = TypeVar("Entry")


class Registry(Dict[str, Entry]):
    """Entries with a `name`, by name.  `what` names the kind in messages ("cost")."""

    def __init__(self, what: str):
        super().__init__()
        self.what = what

    def add(self, entry: Entry) -> Entry:
        if entry.name in self:
            raise ValueError(f"{self.what} {entry.name!r} is already registered")
        self[entry.name] = entry
        return entry

    def lookup(self, name: str, refusal: str) -> Entry:
        """The entry `name`; else a UserError, `refusal` with {name} and {known} filled in
        (double the braces of a {setting} placeholder: "{{cost}} must be one of {known}")."""
        if name not in self:
            raise UserError(refusal.format(name=repr(name), known=", ".join(self)))
        return self[name]

    def described(self, describe: Callable[[Entry], str]) -> str:
        """Every entry as `describe` writes it, joined for a help text."""
        return "; ".join(describe(entry) for entry in self.values())
