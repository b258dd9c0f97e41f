"""Tables printed whole: a pipe or file gets every digit; a narrow terminal folds, never cuts."""

import importlib
import io

from rich.console import Console
from rich.table import Table

app = importlib.import_module("scalesearch.cli.app")  # the package's `app` attribute is the Typer app


def _wide_table() -> Table:
    table = Table("point", "status", "params", "note")
    for i in range(3):
        table.add_row(f"({1 + i / 10:g}, 1.1, 1.2)", "contender", f"{5_288_123 + i:,}", "x" * 60)
    return table


def test_a_table_to_a_pipe_is_not_cut_at_80_columns(capsys):
    app.print_table(_wide_table())
    out = capsys.readouterr().out
    assert "5,288,123" in out and "contender" in out and "…" not in out
    assert max(len(line) for line in out.splitlines()) > 80


def test_a_narrow_terminal_folds_cells_instead_of_cutting_them(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(app, "Console", lambda **kw: Console(file=buffer, force_terminal=True, width=50, **kw))
    app.print_table(_wide_table())
    text = buffer.getvalue()
    assert "…" not in text and "5,288,12" in text.replace("\n", "").replace("│", "").replace(" ", "")
