"""The study loop with training faked: every sampler trains the baseline and distinct
feasible points, respects --trials, and never trains a point twice."""

import optuna
import pytest

from scalesearch.search import study, worker
from scalesearch.search.candidates import GridSpec, build_candidates
from scalesearch.errors import UserError
from scalesearch.search.study import SearchConfig, open_study
from scalesearch.search.worker import run_worker
from scalesearch.spec.spaces import load_space
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.loop import TrainResult


@pytest.fixture(scope="module")
def space_and_candidates():
    space = load_space("resnet18")
    return space, build_candidates(space, GridSpec(step=0.1))  # 3 feasible candidates + baseline


def fake_training(trained):
    def train_candidate(candidate, space, config, data, **kwargs):
        trained.append(candidate.index)
        # A smooth landscape over (beta, gamma), so model-based samplers have something to fit.
        accuracy = 0.5 + 0.1 * candidate.gamma - 0.05 * candidate.beta
        return TrainResult(val_accuracy=accuracy, test_accuracy=accuracy, images_per_second=1.0,
                           epochs=1, seconds=0.0)
    return train_candidate


@pytest.mark.parametrize("sampler, trials", [("grid", None), ("tpe", 2), ("gp", 2), ("random", 2)])
def test_every_sampler_trains_distinct_feasible_points(space_and_candidates, monkeypatch, sampler, trials):
    space, candidates = space_and_candidates
    trained = []
    monkeypatch.setattr(worker, "train_candidate", fake_training(trained))
    config = SearchConfig(space.name, GridSpec(step=0.1), ProxyBudget(epochs=1), sampler=sampler, trials=trials)
    study, _ = open_study(optuna.storages.InMemoryStorage(), "s", config, space, lambda: candidates)
    run_worker(study, candidates, space, config, data=None)

    feasible = [c.index for c in candidates if c.feasible]
    assert trained[0] == 0 and len(trained) == len(set(trained))  # baseline first, nothing twice
    assert set(trained) <= set(feasible)
    assert len(trained) == (len(feasible) if trials is None else trials + 1)


def test_gp_without_scipy_is_one_clear_line(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "scipy" else find_spec(name, *args))
    config = SearchConfig("resnet18", GridSpec(), ProxyBudget(epochs=1), sampler="gp", trials=2)
    with pytest.raises(UserError, match=r"pip install 'scalesearch\[gp\]'"):
        study.make_sampler(config, [0, 1])


def test_joining_a_study_another_worker_is_still_setting_up(space_and_candidates):
    """A worker starting alongside the one that created the study may find its fingerprint
    written but not yet its candidates (CI saw a KeyError there): it uses its own."""
    space, candidates = space_and_candidates
    config = SearchConfig(space.name, GridSpec(step=0.1), ProxyBudget(epochs=1))
    storage = optuna.storages.InMemoryStorage()
    half_made = optuna.create_study(storage=storage, study_name="s", direction="maximize")
    half_made.set_user_attr("fingerprint", config.fingerprint(space))
    study, joined = open_study(storage, "s", config, space, lambda: candidates)
    assert [c.index for c in joined] == [c.index for c in candidates]
