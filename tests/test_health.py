"""The health check (training/health.py): its thresholds, and that every unit passes through it."""

import math

import pytest

from scalesearch.training import health
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.loop import TrainResult
from scalesearch.training.unit import DataSource, checked, train_unit
from scalesearch.costs.variant import Variant
from scalesearch.spec.spaces import load_space
from tests.tiny import write_space


def result(val=0.7, first_loss=1.8, status="ok", message=""):
    return TrainResult(val_accuracy=val, test_accuracy=val, images_per_second=1.0, epochs=2, seconds=1.0,
                       status=status, message=message,
                       history=[{"epoch": 1, "train_loss": first_loss, "val_accuracy": None, "lr": 0.1}])


def test_a_training_that_learned_passes():
    assert checked(result(), 10).status == "ok"
    # just inside both bounds: 1.5 x ln 10 = 3.45; chance 10 % + 9 points = 19 %
    assert checked(result(val=0.191, first_loss=3.45), 10).status == "ok"


@pytest.mark.parametrize("kwargs, reason", [
    ({"first_loss": 4.41}, "blew up: first-epoch mean loss 4.41 > 1.5 x ln 10 = 3.45"),
    ({"val": 0.157}, "stayed at chance: validation 15.7% < 19.0%"),
])
def test_a_training_that_did_not_train_fails_with_its_reason(kwargs, reason):
    out = checked(result(**kwargs), 10)
    assert out.status == health.FAILED and out.message.startswith(reason)
    assert health.failed(out.as_dict())


def test_a_diverged_training_keeps_its_status_and_counts_as_failed():
    out = checked(result(val=math.nan, first_loss=math.nan, status="diverged", message="loss became non-finite"), 10)
    assert out.status == "diverged" and out.message == "loss became non-finite" and health.failed(out.as_dict())


def test_the_thresholds_follow_the_class_count():
    assert checked(result(val=0.56, first_loss=1.0), 2).status == "ok"  # chance 50 %: the floor is 55 %
    assert checked(result(val=0.54, first_loss=1.0), 2).status == health.FAILED
    assert checked(result(val=0.5, first_loss=3.3), 100).status == "ok"  # 1.5 x ln 100 = 6.9


def test_old_records_that_diverged_count_as_failed():
    assert health.failed({"status": "diverged"}) and not health.failed({"status": "ok"}) and not health.failed(None)


BLOWS_UP = """
network:
  name: plain
  resolution: 32
  activation: relu
  stem: {channels: 16, kernel: 3, stride: 2}
  stages: [ds_r2_k3_s1_c32, ds_r2_k3_s2_c64]
proxy: {resolution: 16, epochs: 1, train_images: 256, batch_size: 64, lr: 40}
"""


def test_the_unit_funnel_marks_a_blown_up_training(tmp_path):
    """A real training at an absurd learning rate: the unit funnel records it as failed-to-train."""
    space = load_space(str(write_space(tmp_path, BLOWS_UP)))
    variant = Variant(space).at_proxy(16, 1, 10)
    budget = ProxyBudget.for_space(space.proxy, val_images=200)
    out = train_unit(variant, budget, 0, DataSource("synthetic", train_images=256, val_images=200), threads=1)
    assert out.status == health.FAILED and out.message.startswith("blew up: first-epoch mean loss")
    assert out.as_dict()["first_loss"] == out.history[0]["train_loss"] > 3.45


def test_the_plumbing_switch_trusts_every_training_and_is_on_by_default(monkeypatch):
    monkeypatch.delenv(health.HEALTH_ENV, raising=False)
    assert health.enabled() and checked(result(val=0.12), 10).status == health.FAILED
    monkeypatch.setenv(health.HEALTH_ENV, "off")
    assert not health.enabled() and checked(result(val=0.12), 10).status == "ok"
