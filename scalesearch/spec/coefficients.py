"""Where compound coefficients come from, checked the same way by every command.

A command takes alpha, beta, gamma from exactly one source — a grid run (`from`), the
three numbers, or a preset — and these two checks say so in one place:
`choose_source` (one source, not two; none only where a default exists) and
`together` (alpha, beta, gamma are given all three or not at all).
"""

from __future__ import annotations

from scalesearch.errors import UserError
from scalesearch.spec.scaling import Coefficients

COEFFICIENTS = "{alpha}/{beta}/{gamma}"


def choose_source(sources: dict[str, bool], *, required: bool, forms: str = "") -> str | None:
    """The one source given (its name), None when none was and none is `required`.

    `sources` maps a source's name as the user writes it ("{from}", "{preset}", ...) to
    whether it was given; `forms` spells out the choices for the message.
    """
    given = [name for name, on in sources.items() if on]
    if len(given) > 1 or (required and not given):
        got = " and ".join(given) if given else "none"
        raise UserError(f"give exactly one coefficient source (got {got}): {forms or ', '.join(sources)}")
    return given[0] if given else None


def together(**values: float | None) -> bool:
    """True when every value is given, False when none is; refuse a partial set."""
    present = [name for name, value in values.items() if value is not None]
    if present and len(present) != len(values):
        names = ", ".join(f"{{{name}}}" for name in values)
        example = " ".join(f"{{{n}}} {v}" for n, v in zip(values, ("1", "1.2", "1.1", "1.15")[-len(values):]))
        raise UserError(f"{names} go together (e.g. {example})")
    return bool(present)


def manual(alpha: float | None, beta: float | None, gamma: float | None) -> Coefficients | None:
    """Coefficients from the three numbers, or None when none was given."""
    return Coefficients(alpha, beta, gamma) if together(alpha=alpha, beta=beta, gamma=gamma) else None
