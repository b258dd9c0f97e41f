"""Every command trains a unit the same way: one funnel, one seed rule, one evaluation rule."""

import re
from pathlib import Path

from scalesearch.costs.variant import Variant
from scalesearch.spec.spaces import load_space
from scalesearch.training import unit
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.loop import TrainResult

PACKAGE = Path(unit.__file__).resolve().parent.parent


class Images(str):
    """A stand-in for a seed's images: its name, and the class count the health check reads."""

    num_classes = 10


def test_seed_s_is_base_plus_s_for_weights_data_and_budget_and_test_only_on_seed_0(monkeypatch):
    calls, loads = [], []
    trained = TrainResult(val_accuracy=0.8, test_accuracy=0.8, images_per_second=1.0, epochs=1, seconds=1.0)
    monkeypatch.setattr(unit, "train_model", lambda model, images, resolution, budget, **kw:
                        calls.append((model, images, resolution, budget, kw)) or trained)
    monkeypatch.setattr(unit, "load_data", lambda *a, seed, **kw: loads.append(seed) or Images(f"images{seed}"))
    variant = Variant(load_space("resnet18")).at_proxy(32, 1, 10)
    source, budget = unit.DataSource(val_images=64), ProxyBudget(epochs=1, seed=7)
    prepared = []
    for index in (0, 2):
        unit.train_unit(variant, budget, index, source, prepare=prepared.append)
    assert loads == [7, 9] and [c[1] for c in calls] == ["images7", "images9"]
    assert [c[3].seed for c in calls] == [7, 9] and all(c[2] == variant.resolution for c in calls)
    assert [c[4]["evaluate_test"] for c in calls] == [True, False]
    assert all(c[4]["validate_each_epoch"] is False for c in calls)  # once, after the last epoch
    assert prepared == [calls[0][0], calls[1][0]]  # prepare sees the very model that trains
    # the weights are seeded: the same seed builds the same network, another seed another
    first, again = variant.build(7).state_dict(), calls[0][0].state_dict()
    assert all((first[k] == again[k]).all() for k in first)


def test_train_model_is_called_from_the_funnel_only():
    callers = sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")
                     if re.search(r"\btrain_model\(", p.read_text()) and p.name not in ("loop.py", "unit.py"))
    assert callers == [], f"train through training/unit.py's train_unit, not train_model: {callers}"
