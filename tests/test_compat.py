"""The Optuna and fvcore internals scalesearch relies on are still where compat.py reaches them."""

import pytest

from scalesearch import compat


def test_internals_are_where_we_use_them():
    compat.check()  # raises, naming what moved, after an upgrade that breaks one


def test_check_names_what_moved(monkeypatch):
    monkeypatch.setattr(compat, "trial_id", lambda trial: trial.no_such_attribute)
    with pytest.raises(RuntimeError, match="Trial._trial_id"):
        compat.check()
