"""The proxy training loop: it learns, it is deterministic, it fails softly, it resumes."""

import math
from functools import partial

import pytest
import torch

from scalesearch.training.data import load_data
from scalesearch.errors import UserError
from scalesearch.models import build_model
from scalesearch.spec.netspec import NetSpec
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.loop import TrainResult, learning_rate, parameter_groups
from scalesearch.training.timing import seconds_per_image
from scalesearch.training.loop import train_model as _train_model
from tests.tiny import DATA

# One thread: results depend on the thread count (reduction order), and on a shared
# machine two threads per process oversubscribe the cores and crawl.
train_model = partial(_train_model, threads=1)

TINY = {"name": "tiny", "resolution": 16, "in_channels": 1, "num_classes": 10, "activation": "silu",
        "dropout": 0.1, "drop_path": 0.1, "stem": {"channels": 8, "kernel": 3, "stride": 2},
        "stages": ["mb_r2_k3_s1_e2_c8_se0.25", "mb_r1_k3_s2_e2_c16_se0.25"], "head": {"channels": 32}}


def tiny_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_model(NetSpec.from_dict(TINY))


@pytest.fixture(scope="module")
def data():
    """A few hundred real Fashion-MNIST images, or the generated set where it is absent."""
    return load_data(DATA, train_images=512, val_images=256, test_images=256)


BUDGET = ProxyBudget(epochs=2, train_images=512, batch_size=64, lr=0.2, val_images=256)


def test_it_learns_and_reports_per_epoch(data):
    seen = []
    result = train_model(tiny_model(), data, 16, BUDGET, on_epoch=lambda e, acc: seen.append((e, acc)))
    assert isinstance(result, TrainResult) and result.status == "ok"
    assert result.val_accuracy > 0.25 and result.test_accuracy > 0.25  # chance is 0.1
    assert [e for e, _ in seen] == [1, 2] and seen[-1][1] == result.val_accuracy
    assert [h["epoch"] for h in result.history] == [1, 2] and result.steps == 16
    assert result.images_per_second > 0 and result.epochs == 2
    assert set(result.as_dict()) >= {"val_accuracy", "test_accuracy", "images_per_second", "history", "status"}


def test_same_seed_same_accuracy_to_the_last_digit(data):
    budget = ProxyBudget(epochs=1, train_images=512, batch_size=64, lr=0.2, val_images=256, seed=7)
    first = train_model(tiny_model(7), data, 16, budget)
    second = train_model(tiny_model(7), data, 16, budget)
    assert first.val_accuracy == second.val_accuracy and first.test_accuracy == second.test_accuracy
    assert first.history[0]["train_loss"] == second.history[0]["train_loss"]
    other = train_model(tiny_model(8), data, 16, ProxyBudget(**{**budget.as_dict(), "seed": 8}))
    assert other.history[0]["train_loss"] != first.history[0]["train_loss"]


def test_a_huge_learning_rate_diverges_softly(data):
    budget = ProxyBudget(epochs=2, train_images=512, batch_size=64, lr=1e9, warmup_epochs=0, val_images=256)
    calls = []
    result = train_model(tiny_model(), data, 16, budget, on_epoch=lambda e, a: calls.append(e))
    assert result.status == "diverged" and "smaller {lr}" in result.message
    assert math.isnan(result.val_accuracy) and calls == []


def test_on_epoch_exceptions_propagate(data):
    class Pruned(Exception):
        pass

    def prune(epoch, accuracy):
        raise Pruned()

    with pytest.raises(Pruned):
        train_model(tiny_model(), data, 16, BUDGET, on_epoch=prune)


def test_resume_continues_to_the_same_result(data, tmp_path):
    straight = train_model(tiny_model(), data, 16, BUDGET)
    checkpoint = tmp_path / "run" / "checkpoint.pt"

    def stop_after_first(epoch, accuracy):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model(tiny_model(), data, 16, BUDGET, checkpoint=checkpoint, on_epoch=stop_after_first,
                    checkpoint_extra={"spec": TINY})
    state = torch.load(checkpoint, weights_only=False)
    assert state["epoch"] == 1 and state["extra"]["spec"]["name"] == "tiny"
    resumed = train_model(tiny_model(1), data, 16, BUDGET, checkpoint=checkpoint, resume=True)
    assert resumed.epochs == 2 and len(resumed.history) == 2
    assert resumed.val_accuracy == straight.val_accuracy
    with pytest.raises(UserError, match="different budget"):
        train_model(tiny_model(), data, 16, ProxyBudget(**{**BUDGET.as_dict(), "lr": 0.1}),
                    checkpoint=checkpoint, resume=True)


def test_threads_are_restored(data):
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        budget = ProxyBudget(epochs=1, train_images=64, batch_size=64, val_images=256)
        assert train_model(tiny_model(), data, 16, budget).threads == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_step_timer_gives_a_time_and_restores_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seconds = seconds_per_image(tiny_model(), 1, 16, 10, batch_size=8, threads=1, warmup=1, steps=2)
        assert 0 < seconds < 10 and math.isfinite(seconds)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("field, value, option", [
    ("epochs", 0, "epochs"), ("batch_size", 1.5, "batch_size"), ("lr", -1.0, "lr"),
    ("lr", float("nan"), "lr"), ("optimizer", "adam", "optimizer"),
    ("warmup_epochs", 5.0, "warmup_epochs"), ("label_smoothing", 1.0, "label_smoothing"),
])
def test_bad_budget_names_the_option(field, value, option):
    with pytest.raises(UserError, match=f"^{option} ") as error:
        ProxyBudget(**{field: value})
    assert error.value.template.startswith("{" + option + "}")  # the CLI writes it as its flag


def test_schedule_warms_up_then_decays_to_zero():
    lrs = [learning_rate(s, 100, 10, 0.1) for s in range(100)]
    assert lrs[0] == pytest.approx(0.01) and max(lrs) == pytest.approx(0.1) and lrs[9] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:])) and lrs[-1] < 1e-3


def test_no_weight_decay_on_norms_and_biases():
    decay, no_decay = parameter_groups(tiny_model(), 1e-4)
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert no_decay["weight_decay"] == 0.0


def test_rmsprop_also_learns(data):
    budget = ProxyBudget(epochs=2, train_images=512, batch_size=64, lr=0.01, optimizer="rmsprop", val_images=256)
    assert train_model(tiny_model(), data, 16, budget).val_accuracy > 0.2


def test_common_random_numbers_two_networks_one_seed_see_the_same_batches(data, monkeypatch):
    """Seed s gives every point the same image order, crops and flips (paired comparisons)."""
    import scalesearch.training.loop as loop

    other = {**TINY, "stages": ["basic_r1_k3_s1_c8", "basic_r2_k3_s2_c16"], "head": {"channels": 0}}
    seen: list[list] = []

    def recording(fn):
        def wrapper(*args):
            out = fn(*args)
            seen[-1].append(out.clone() if isinstance(out, torch.Tensor) else (out.dy.clone(), out.dx.clone(), out.flip.clone()))
            return out
        return wrapper

    monkeypatch.setattr(loop, "batch_order", recording(loop.batch_order))
    monkeypatch.setattr(loop, "draw_augmentation", recording(loop.draw_augmentation))
    budget = ProxyBudget(epochs=1, train_images=512, batch_size=64, lr=0.2, val_images=256, seed=4)
    for spec, resolution in ((TINY, 16), (other, 24)):
        seen.append([])
        torch.manual_seed(0)
        train_model(build_model(NetSpec.from_dict(spec)), data, resolution, budget)
    first, second = seen
    assert len(first) == len(second) == 1 + 512 // 64  # one order, then a draw per batch
    assert torch.equal(first[0], second[0])
    for a, b in zip(first[1:], second[1:]):
        assert all(torch.equal(x, y) for x, y in zip(a, b))
    seen.append([])
    train_model(tiny_model(), data, 16, ProxyBudget(**{**budget.as_dict(), "seed": 5}))
    assert not torch.equal(seen[-1][0], first[0])  # another seed, another order
