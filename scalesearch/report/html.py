"""Report -> one self-contained HTML page (inline CSS, figures as base64 PNG data URIs).

One file a reader can mail, archive or open offline; nothing is fetched from the network.
"""

from __future__ import annotations

import base64
import html
import re

from scalesearch.report.document import Figure, Heading, Paragraph, Report, Table

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
       max-width: 1100px; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { font-size: 1.6rem; border-bottom: 2px solid #ddd; padding-bottom: .3rem; }
h2 { font-size: 1.25rem; margin-top: 2rem; }
code { background: #f3f3f5; padding: 0 .25em; border-radius: 3px; font-size: .92em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: .85rem; margin: .5rem 0; }
th, td { border: 1px solid #ddd; padding: .25rem .5rem; white-space: nowrap; }
th { background: #f5f5f7; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr:nth-child(even) td { background: #fafafa; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, .caption { color: #555; font-size: .85rem; }
"""


def render_html(report: Report) -> str:
    body = [f"<h1>{html.escape(report.title)}</h1>"]
    for block in report.blocks:
        if isinstance(block, Heading):
            level = min(6, max(2, block.level))
            body.append(f"<h{level}>{_inline(block.text)}</h{level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Table):
            body.append(_table(block))
        elif isinstance(block, Figure):
            data = base64.b64encode(block.png).decode()
            alt = html.escape(block.caption or block.name)
            caption = f"<figcaption>{_inline(block.caption)}</figcaption>" if block.caption else ""
            body.append(f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">{caption}</figure>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(report.title)}</title><style>{_STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code> (the one markup both renderers share)."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _table(block: Table) -> str:
    numeric = block.numeric_columns()
    head = "".join(f"<th>{html.escape(c)}</th>" for c in block.columns)
    cells = lambda row: "".join(  # noqa: E731
        (f'<td class="num">{html.escape(v)}</td>' if numeric[i] else f"<td>{html.escape(v)}</td>")
        for i, v in enumerate(row))
    body = "".join(f"<tr>{cells(row)}</tr>" for row in block.rows())
    caption = f'<p class="caption">{_inline(block.caption)}</p>' if block.caption else ""
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            f"</table></div>{caption}")
