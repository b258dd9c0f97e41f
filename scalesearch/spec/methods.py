"""The scaling methods `compare` sets side by side: one registered entry each.

A method turns one scalar knob into depth, width and resolution multipliers (d, w, r).
Its entry holds the knob's name, how the knob maps to (d, w, r) for the compound
coefficients in use (its `Setting`), a phrase for help texts, whether its variant at a
cost is the compound family's own member (landed by costs/landing.py, as expand's) rather
than its knob solved on the measured cost, and, for a method written `name:ARG`, how ARG
is read.  `compare` parses `--methods`, plans, solves and lists its help from here; a new
method is one `register_method(CompareMethod(...))`:

    register_method(CompareMethod("wide-deep", "s': w = d = s'^(1/3)", lambda coefficients, text:
                                  Setting(text, "s'", 1.0, lambda s: (s ** (1 / 3), s ** (1 / 3), 1.0))))

(tests/test_extending.py registers that one and compares it through the CLI.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

from scalesearch.errors import UserError
from scalesearch.registry import Registry
from scalesearch.spec.presets import fast_exponents, parse_fast
from scalesearch.spec.scaling import Coefficients


@dataclass(frozen=True)
class Setting:
    """One method's scalar knob and how it maps to (d, w, r).

    `slope` is the nominal d(log FLOPs)/d(knob), which turns a FLOP error into a step:
    log w, log r move FLOPs twice as fast as log d; phi moves them by log(alpha beta^2 gamma^2).
    """

    method: str
    knob: str  # what the report calls the solved number: w, d, r, phi or s'
    slope: float
    to_multipliers: Callable[[float], tuple[float, float, float]] = field(compare=False)
    in_log: bool = True  # the knob is searched as log(value) (all but phi)

    def multipliers(self, value: float) -> tuple[float, float, float]:
        return self.to_multipliers(value)


@dataclass(frozen=True)
class CompareMethod:
    name: str
    help: str  # what the knob scales, for help texts
    setting: Callable[[Coefficients, str], Setting]  # (compound coefficients, the method as written) -> its knob
    argument: Callable[[str], object] | None = None  # reads `name:ARG` (ValueError for a bad ARG); None: takes none
    lands: bool = False  # its variant at a cost is the compound family's member, landed as expand lands it
    published_knob: Callable[[tuple[float, float, float]], float] = max  # its knob at a published (d, w, r)


METHODS: Registry[CompareMethod] = Registry("compare method")


def register_method(method: CompareMethod) -> CompareMethod:
    if not method.name or ":" in method.name or "," in method.name or method.name != method.name.lower():
        raise ValueError(f"compare method {method.name!r}: a lower-case name without ':' or ',' "
                         "(--methods is read lower-cased, split at ',' and ':')")
    return METHODS.add(method)


def method_names() -> str:
    """Every method as `--methods` takes it: "width,depth,resolution,compound,fast[:A]"."""
    return ",".join(f"{m.name}[:A]" if m.argument else m.name for m in METHODS.values())


def method_help() -> str:
    """Each method with what its knob scales, for a `--methods` option's help."""
    return METHODS.described(lambda m: f"{m.name}{'[:A]' if m.argument else ''} ({m.help})")


def compare_method(text: str) -> CompareMethod:
    """The entry a method as written names (`fast:0.5` -> fast), its argument checked; a
    user error that lists the known methods otherwise."""
    name, colon, _ = text.partition(":")
    method = METHODS.get(name)
    if method is None or (colon and method.argument is None):
        raise UserError(f"{{methods}}: unknown method {text!r}; choose from {method_names()}")
    if method.argument is not None:
        try:
            method.argument(text)
        except ValueError as error:
            raise UserError(f"{{methods}}: {error}") from None
    return method


def method_setting(text: str, coefficients: Coefficients) -> Setting:
    """The knob of the method `text` names, for these compound coefficients."""
    return compare_method(text).setting(coefficients, text)


def _fast(coefficients: Coefficients, text: str) -> Setting:
    e = fast_exponents(parse_fast(text))
    return Setting(text, "s'", 1.0, lambda s: (s ** e["depth"], s ** e["width"], s ** e["resolution"]))


register_method(CompareMethod("width", "w: channels", lambda c, text: Setting(text, "w", 2.0, lambda w: (1.0, w, 1.0))))
register_method(CompareMethod("depth", "d: blocks per stage", lambda c, text: Setting(text, "d", 1.0, lambda d: (d, 1.0, 1.0))))
register_method(CompareMethod("resolution", "r: input pixels",
                              lambda c, text: Setting(text, "r", 2.0, lambda r: (1.0, 1.0, r))))
register_method(CompareMethod("compound", "phi: (alpha^phi, beta^phi, gamma^phi), the family's own member",
                              lambda c, text: Setting(text, "phi", math.log(c.product), c.multipliers, in_log=False),
                              lands=True, published_knob=lambda multipliers: 1.0))
register_method(CompareMethod("fast", "s': (s'^0.1, s'^0.4, s'^0.05), Dollár et al.'s fast scaling; fast:A "
                              "for a = A in (0, 1]", _fast, argument=parse_fast))
