"""phi lists as users write them: ranges (0..7, -2..3) and lists (1,2,4 / 0.5,1.5)."""

from __future__ import annotations

import math
import re

from scalesearch.errors import UserError

MAX_ABS_PHI = 10  # 2^10 x the baseline's FLOPs already means hours of fvcore tracing
_NUMBER = r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)"  # no "1." : "1...3" must not read as 1. .. 3


def parse_phis(text: str) -> tuple[float, ...]:
    """`1..7`, `-2..3` (step 1, both ends included) or `1,2,4`, `0.5,1.5` (ascending)."""
    raw = str(text).strip()
    hint = "write a range like 0..7 or -2..3, or an ascending list like 1,2,4 or 0.5,1.5"
    range_match = re.fullmatch(rf"({_NUMBER})\s*\.\.\s*({_NUMBER})", raw)
    if range_match:
        low, high = float(range_match.group(1)), float(range_match.group(2))
        if high < low:
            raise UserError(f"{{phi}} {raw}: the range is descending; {hint}")
        phis = tuple(low + i for i in range(int(math.floor(high - low + 1e-9)) + 1))
    elif re.fullmatch(rf"{_NUMBER}(?:\s*,\s*{_NUMBER})*", raw):
        phis = tuple(float(part) for part in raw.split(","))
        if any(b <= a for a, b in zip(phis, phis[1:])):
            raise UserError(f"{{phi}} {raw}: values must be strictly ascending; {hint}")
    else:
        raise UserError(f"{{phi}} {raw!r}: cannot read it; {hint}")
    if any(abs(phi) > MAX_ABS_PHI for phi in phis):
        raise UserError(f"{{phi}} {raw}: |phi| must be <= {MAX_ABS_PHI} "
                          f"(phi = 10 is already ~1000x the baseline's FLOPs)")
    return phis


def phi_label(phi: float) -> str:
    """1.0 -> '1', -2.0 -> '-2', 0.5 -> '0.5': for file names and tables."""
    return str(int(phi)) if float(phi).is_integer() else f"{phi:g}"
