"""The only place that touches Optuna's, fvcore's and submitit's internals.

Both libraries hide things scalesearch needs: a study's storage and a trial's id (to
reap trials whose worker died and to renew leases without a Trial object), Optuna's
heartbeat thread (which `study.optimize` starts but ask/tell does not), and fvcore's
default op handles (to count FLOPs and activations from one trace), and the sbatch script
submitit would submit (so `launch slurm --dry-run` can show it without a cluster).  Each is reached
through one function here, and `check()` — run by the test suite — fails loudly, naming
what moved, when an upgrade breaks one, instead of letting a search go silently wrong.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any, Callable

import optuna


def study_storage(study: optuna.Study) -> optuna.storages.BaseStorage:
    return study._storage


def trial_id(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    return trial._trial_id


def heartbeat_thread(trial_id: int, storage: optuna.storages.BaseStorage):
    """Optuna's heartbeat for `trial_id` (a no-op thread on storages without heartbeats)."""
    from optuna.storages._heartbeat import get_heartbeat_thread

    return get_heartbeat_thread(trial_id, storage)


def fvcore_default_handles(model, example) -> tuple[dict[str, Callable], dict[str, Callable]]:
    """fvcore's default op handles for FLOPs and for activations (nothing is traced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fvcore's imports script functions with torch.jit
        from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

    return (dict(FlopCountAnalysis(model, example)._op_handles),
            dict(ActivationCountAnalysis(model, example)._op_handles))


def check() -> None:
    """Raise RuntimeError naming every internal that is no longer where we use it."""
    import torch

    problems: list[str] = []
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    trial = study.ask()
    _expect(problems, "optuna Study._storage", lambda: study_storage(study) is storage)
    _expect(problems, "optuna Trial._trial_id", lambda: isinstance(trial_id(trial), int))
    _expect(problems, "optuna.storages._heartbeat.get_heartbeat_thread",
            lambda: hasattr(heartbeat_thread(trial_id(trial), storage), "start"))
    frozen = study.get_trials(deepcopy=False)[0]
    _expect(problems, "optuna FrozenTrial._trial_id", lambda: trial_id(frozen) == trial_id(trial))
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    _expect(problems, "fvcore FlopCountAnalysis/ActivationCountAnalysis._op_handles",
            lambda: all("aten::_convolution" in h for h in fvcore_default_handles(model, torch.zeros(1, 1, 4, 4))))
    if importlib.util.find_spec("submitit") is not None:  # an optional extra
        _expect(problems, "submitit.slurm.slurm._make_sbatch_string",
                lambda: "#SBATCH" in submitit_sbatch_script("/tmp/x", "check", {"time": 5}, 2))
    if problems:
        raise RuntimeError("Optuna, fvcore or submitit internals moved: " + "; ".join(problems))


def _expect(problems: list[str], what: str, probe: Callable[[], Any]) -> None:
    try:
        ok = probe()
    except Exception as error:  # any failure means the internal moved
        ok, what = False, f"{what} ({type(error).__name__}: {error})"
    if not ok:
        problems.append(what)


def submitit_sbatch_script(folder: str, job_name: str, parameters: dict[str, Any], array: int) -> str:
    """The sbatch script submitit writes for a job array of `array` tasks (its private helper)."""
    from submitit.slurm.slurm import _make_sbatch_string

    command = "python -u -m submitit.core._submit " + folder  # what submitit's SlurmExecutor runs
    return _make_sbatch_string(command=command, folder=folder, job_name=job_name, map_count=array,
                               array_parallelism=array, **parameters)
