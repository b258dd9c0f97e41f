"""Tables printed whole: a pipe or file gets every digit; a narrow terminal folds, never cuts."""

import importlib
import io
from types import SimpleNamespace

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


def test_units_in_two_workers_are_each_timed_from_their_own_start(capsys, monkeypatch):
    """Two workers interleave: a unit's line took the other unit's start (38 s printed for a
    123 s training), and its estimate was printed divided by the workers."""
    progress = importlib.import_module("scalesearch.cli.progress")
    clock = iter([0.0, 5.0, 100.0, 123.0])
    monkeypatch.setattr(progress, "time", SimpleNamespace(perf_counter=lambda: next(clock)))

    class Item:
        def __init__(self, key):
            self.key = key

    bar = progress.UnitProgress("compare")
    bar.begin(2, {"a/seed0": 90.0, "b/seed0": 110.0}, workers=2)
    bar.unit_started(Item("a"), 0)  # t = 0
    bar.unit_started(Item("b"), 0)  # t = 5
    ok = {"status": "ok", "val_accuracy": 0.5, "test_accuracy": 0.5}
    bar.unit_done(Item("a"), 0, {"key": "a/seed0", **ok})  # t = 100
    bar.unit_done(Item("b"), 0, {"key": "b/seed0", **ok})  # t = 123
    lines = capsys.readouterr().err.splitlines()
    assert "(100 s, estimated 90 s)" in lines[0] and "a/seed0" in lines[0]
    assert "(118 s, estimated 110 s)" in lines[1] and "b/seed0" in lines[1]
