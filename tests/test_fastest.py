"""Measure, then choose: the memory format is timed once per network and machine, then cached."""

import pytest
import torch

from scalesearch.models import build_model
from scalesearch.spec.netspec import NetSpec
from scalesearch import machine
from scalesearch.training import fastest
from tests.test_train import TINY


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SCALESEARCH_CACHE", str(tmp_path))
    return tmp_path / "measurements.json"


def counting(rates):
    calls = []

    def measure(model, shape, classes, batch, fmt, device):
        calls.append(fmt)
        return rates[fmt]
    return measure, calls


def choose(measure):
    model = build_model(NetSpec.from_dict(TINY))
    return fastest.choose_memory_format(model, (1, 16, 16), 10, 64, torch.device("cpu"), 1, measure=measure)


def test_the_faster_format_is_chosen_and_cached(cache):
    measure, calls = counting({torch.channels_last: 100.0, torch.contiguous_format: 300.0})
    first = choose(measure)
    assert first.memory_format == "contiguous" and first.measured and len(calls) == 4
    assert calls == [torch.channels_last, torch.contiguous_format, torch.contiguous_format, torch.channels_last]
    assert first.rates == {"channels_last": 100.0, "contiguous": 300.0} and "measured now" in first.why
    again = choose(measure)  # a second run does not re-time
    assert again.memory_format == "contiguous" and not again.measured and len(calls) == 4
    assert cache.is_file()


def test_one_slow_round_does_not_decide(cache):
    """A format slowed once (another process took the core) is still judged by its best round."""
    seen = {torch.channels_last: iter([80.0, 560.0]), torch.contiguous_format: iter([320.0, 300.0])}

    def measure(model, shape, classes, batch, fmt, device):
        return next(seen[fmt])
    layout = choose(measure)
    assert layout.memory_format == "channels_last" and layout.rates == {"channels_last": 560.0, "contiguous": 320.0}


def test_another_cpu_measures_again(cache, monkeypatch):
    measure, calls = counting({torch.channels_last: 300.0, torch.contiguous_format: 100.0})
    choose(measure)
    identity = dict(machine.cpu_identity())
    monkeypatch.setattr(machine, "cpu_identity", lambda: {**identity, "flags": "avx2,fma"})  # an AVX2 machine
    assert choose(measure).measured and len(calls) == 8


def test_a_corrupt_cache_is_rebuilt(cache):
    cache.write_text("{not json")
    measure, calls = counting({torch.channels_last: 300.0, torch.contiguous_format: 100.0})
    assert choose(measure).memory_format == "channels_last" and len(calls) == 4
    assert choose(measure).measured is False


def test_measuring_leaves_the_model_and_the_rng_alone(cache):
    model = build_model(NetSpec.from_dict(TINY))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(3)
    state = torch.get_rng_state()
    fastest.choose_memory_format(model, (1, 16, 16), 10, 16, torch.device("cpu"), 1)
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_same_seed_and_layout_give_the_same_result(cache):
    from scalesearch.training.budget import ProxyBudget
    from scalesearch.training.data import load_data
    from scalesearch.training.loop import train_model
    from tests.tiny import DATA

    data = load_data(DATA, train_images=256, val_images=128, test_images=128)
    budget = ProxyBudget(epochs=1, train_images=256, batch_size=64, lr=0.2, val_images=128)
    def seeded():
        torch.manual_seed(0)
        return build_model(NetSpec.from_dict(TINY))

    runs = [train_model(seeded(), data, 16, budget, threads=1, layout=fmt)
            for fmt in ("contiguous", "contiguous", "channels_last")]
    assert runs[0].val_accuracy == runs[1].val_accuracy and runs[0].layout == "contiguous"
    assert runs[2].layout == "channels_last"


def test_a_short_run_takes_every_core_unmeasured_and_a_long_one_measures(monkeypatch):
    from scalesearch.search import pool
    from scalesearch.training.fastest import WorkerChoice

    asked = []
    monkeypatch.setattr(pool, "available_cores", lambda: 4)
    monkeypatch.setattr(pool, "choose_workers",
                        lambda *args, **kwargs: asked.append(args) or WorkerChoice(4, 1, {"4x1": 9.0}, True))
    short = pool.plan_processes(None, None, "cpu", None, (1, 32, 32), 10, 64, seconds=pool.SHORT_RUN_SECONDS - 1)
    assert (short.workers, short.threads) == (1, 4) and "not measured" in short.why and not asked
    long = pool.plan_processes(None, None, "cpu", None, (1, 32, 32), 10, 64, seconds=pool.SHORT_RUN_SECONDS + 1)
    assert (long.workers, long.threads) == (4, 1) and len(asked) == 1
    unknown = pool.plan_processes(None, None, "cpu", None, (1, 32, 32), 10, 64)
    assert unknown.workers == 4 and len(asked) == 2
    asked_for = pool.plan_processes(2, None, "cpu", None, (1, 32, 32), 10, 64, seconds=1.0)
    assert (asked_for.workers, asked_for.threads) == (2, 2) and asked_for.why == "2 worker(s) x 2 thread(s), as asked"
