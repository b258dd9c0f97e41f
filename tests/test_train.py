"""The proxy training loop: it learns, it is deterministic, it fails softly, it resumes."""

import math
from dataclasses import replace
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
    ("eval_weights", "swa", "eval_weights"), ("ema_decay", 1.0, "ema_decay"), ("ema_decay", 0, "ema_decay"),
    ("flips", "never", "flips"),
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


# -- recipe options (issue 25): what is evaluated, how flips are drawn -------------------

def test_recipe_settings_enter_the_fingerprint_only_where_they_differ():
    base = ProxyBudget()
    assert "eval_weights" not in base.as_dict() and "flips" not in base.as_dict()  # old studies still match
    assert "ema_decay" not in ProxyBudget(ema_decay=0.9).as_dict()  # not read without ema: no difference
    keys = [ProxyBudget(eval_weights="ema").as_dict(), ProxyBudget(eval_weights="ema", ema_decay=0.9).as_dict(),
            ProxyBudget(eval_weights="mean").as_dict(), ProxyBudget(flips="alternate").as_dict(),
            ProxyBudget(val_images=10000).as_dict(), base.as_dict()]
    assert len({repr(sorted(k.items())) for k in keys}) == len(keys)


def test_a_space_can_set_the_recipe_and_a_bad_one_is_one_line():
    budget = ProxyBudget.for_space({"resolution": 32, "eval_weights": "mean", "flips": "alternate"})
    assert budget.eval_weights == "mean" and budget.flips == "alternate"
    with pytest.raises(UserError, match="^eval_weights must be one of last, ema, mean") as error:
        ProxyBudget.for_space({"eval_weights": "best"})
    assert "\n" not in str(error.value)


def test_ema_evaluates_other_weights_and_keeps_them(data):
    seen = {}

    def remember(session):
        seen["last"] = [p.detach().clone() for p in session.net.parameters()]

    last = train_model(tiny_model(), data, 16, BUDGET)
    ema_net = tiny_model()
    ema = train_model(ema_net, data, 16, replace(BUDGET, eval_weights="ema", ema_decay=0.8))
    assert ema.status == "ok" and ema.val_accuracy != last.val_accuracy
    # The kept network is the average, not the last weights: a plain run with the same seed ends elsewhere.
    plain_net = tiny_model()
    train_model(plain_net, data, 16, BUDGET, on_trained=remember)
    assert any(not torch.equal(a, b) for a, b in zip(seen["last"], ema_net.parameters()))


def test_weight_average_is_an_ema_and_a_mean():
    from scalesearch.training.loop import WeightAverage

    net = torch.nn.Linear(1, 1, bias=False)
    ema, mean = WeightAverage(net, "ema", decay=0.5), WeightAverage(net, "mean", start=1)
    for step, value in enumerate([2.0, 4.0, 6.0]):
        net.weight.data.fill_(value)
        ema.update(step)
        mean.update(step)
    assert mean.value[0].item() == pytest.approx(5.0)  # steps 1 and 2 only
    assert ema.value[0].item() == pytest.approx(4.5)  # 2 (first: a mean), 3 (1/2), then 0.5 * 3 + 0.5 * 6
    with ema.applied():
        assert net.weight.item() == pytest.approx(4.5)
    assert net.weight.item() == 6.0


def test_resume_with_ema_continues_to_the_same_result(data, tmp_path):
    budget = replace(BUDGET, eval_weights="ema", ema_decay=0.8)
    straight = train_model(tiny_model(), data, 16, budget)
    checkpoint = tmp_path / "checkpoint.pt"

    def stop_after_first(epoch, accuracy):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_model(tiny_model(), data, 16, budget, checkpoint=checkpoint, on_epoch=stop_after_first)
    resumed = train_model(tiny_model(1), data, 16, budget, checkpoint=checkpoint, resume=True)
    assert resumed.val_accuracy == straight.val_accuracy
    with pytest.raises(UserError, match="eval_weights"):
        train_model(tiny_model(), data, 16, BUDGET, checkpoint=checkpoint, resume=True)


def test_alternate_flips_invert_each_image_every_epoch(data, monkeypatch):
    import scalesearch.training.loop as loop

    if not data.hflip:
        pytest.skip("the generated data may not be mirrored")
    flips: list = []

    def recording(coins, index, epoch, draws):
        out = loop_epoch_flips(coins, index, epoch, draws)
        flips.append((epoch, index.clone(), out.flip.clone(), draws.flip.clone()))
        return out

    loop_epoch_flips = loop.epoch_flips
    monkeypatch.setattr(loop, "epoch_flips", recording)
    budget = replace(BUDGET, flips="alternate")
    train_model(tiny_model(), data, 16, budget)
    by_epoch = [{}, {}]
    for epoch, index, flip, _ in flips:
        by_epoch[epoch].update(zip(index.tolist(), flip.tolist()))
    assert by_epoch[0].keys() == by_epoch[1].keys()
    assert all(by_epoch[0][i] != by_epoch[1][i] for i in by_epoch[0])
    assert 0.3 < sum(by_epoch[0].values()) / len(by_epoch[0]) < 0.7
    flips.clear()
    train_model(tiny_model(), data, 16, BUDGET)  # random: drawn per batch, as before
    assert all(torch.equal(flip, drawn) for _, _, flip, drawn in flips)


def test_validation_images_beyond_2000_change_the_validation_split_only():
    small = load_data(DATA, train_images=512, val_images=2000, test_images=256)
    large = load_data(DATA, train_images=512, val_images=2400, test_images=256)
    assert torch.equal(small.train_x, large.train_x) and torch.equal(large.val_x[:2000], small.val_x)
    result = train_model(tiny_model(), large, 16, replace(BUDGET, val_images=2400, epochs=1))
    assert result.val_images == 2400


def test_a_search_space_yaml_takes_the_recipe_keys(tmp_path):
    from scalesearch.spec.spaces import load_space
    from tests.tiny import TINY_SPACE, write_space

    text = TINY_SPACE.replace("lr: 0.2}", "lr: 0.2, val_images: 10000, eval_weights: ema, ema_decay: 0.9, "
                                          "flips: alternate}")
    space = load_space(str(write_space(tmp_path, text)))
    budget = ProxyBudget.for_space(space.proxy)
    assert (budget.val_images, budget.eval_weights, budget.ema_decay, budget.flips) == (10000, "ema", 0.9, "alternate")
