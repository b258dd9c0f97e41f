"""Report: a small document model (headings, paragraphs, tables, figures) for any run.

Renderers (`markdown.py`, `html.py`) turn it into files; builders (e.g. `expand.py`)
fill it from saved results only, so `scalesearch report DIR` can rebuild it any time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Paragraph:
    text: str  # plain text; `code` spans in backticks are kept by both renderers


@dataclass(frozen=True)
class Table:
    frame: pd.DataFrame  # already formatted for reading: column names and cell strings
    caption: str = ""

    @property
    def columns(self) -> list[str]:
        return [str(c) for c in self.frame.columns]

    def rows(self) -> list[list[str]]:
        return [[cell_text(v) for v in row] for row in self.frame.itertuples(index=False)]

    def numeric_columns(self) -> list[bool]:
        """Columns whose every cell reads as a number: renderers right-align them."""
        rows = self.rows()
        return [bool(rows) and all(_numeric(r[i]) for r in rows) for i in range(len(self.columns))]


def cell_text(value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    return str(value)


def _numeric(text: str) -> bool:
    stripped = text.replace(",", "").replace("%", "").replace("×", "").replace("+", "").strip()
    if stripped in ("", "—", "-"):
        return True
    try:
        float(stripped)
        return True
    except ValueError:
        return False


@dataclass(frozen=True)
class Figure:
    name: str  # file stem for the Markdown PNG, e.g. "flops-per-phi"
    png: bytes
    caption: str = ""


Block = Heading | Paragraph | Table | Figure


@dataclass
class Report:
    """A titled list of blocks, built top to bottom."""

    title: str
    blocks: list[Block] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> "Report":
        self.blocks.append(Heading(text, level))
        return self

    def paragraph(self, text: str) -> "Report":
        self.blocks.append(Paragraph(text))
        return self

    def table(self, frame: pd.DataFrame, caption: str = "") -> "Report":
        self.blocks.append(Table(frame, caption))
        return self

    def figure(self, name: str, png: bytes, caption: str = "") -> "Report":
        self.blocks.append(Figure(name, png, caption))
        return self

    @property
    def figures(self) -> list[Figure]:
        return [block for block in self.blocks if isinstance(block, Figure)]
