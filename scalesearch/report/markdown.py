"""Report -> Markdown text plus the PNG files its image links point at."""

from __future__ import annotations

from scalesearch.report.document import Figure, Heading, Paragraph, Report, Table


def render_markdown(report: Report, figure_dir: str = "figures") -> tuple[str, dict[str, bytes]]:
    """The Markdown text and {relative path: PNG bytes} to write next to it."""
    parts = [f"# {report.title}"]
    images: dict[str, bytes] = {}
    for block in report.blocks:
        if isinstance(block, Heading):
            parts.append(f"{'#' * max(2, block.level)} {block.text}")
        elif isinstance(block, Paragraph):
            parts.append(block.text)
        elif isinstance(block, Table):
            parts.append(markdown_table(block))
            if block.caption:
                parts.append(f"*{block.caption}*")
        elif isinstance(block, Figure):
            path = f"{figure_dir}/{block.name}.png"
            images[path] = block.png
            parts.append(f"![{block.caption or block.name}]({path})")
            if block.caption:
                parts.append(f"*{block.caption}*")
    return "\n\n".join(parts) + "\n", images


def markdown_table(table: Table) -> str:
    """A GitHub pipe table, numeric columns right-aligned (no tabulate dependency)."""
    escape = lambda text: text.replace("|", "\\|").replace("\n", " ")  # noqa: E731
    align = ["---:" if numeric else "---" for numeric in table.numeric_columns()]
    lines = ["| " + " | ".join(escape(c) for c in table.columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(escape(cell) for cell in row) + " |" for row in table.rows()]
    return "\n".join(lines)
