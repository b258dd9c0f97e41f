"""dashboard: optuna-dashboard on a grid run's study, its trials reading in alpha, beta, gamma.

`run_dashboard(request)` finds the study a grid run directory was made with (run.json:
its storage URL and study name), names the study's objectives for the dashboard, and
serves optuna-dashboard on it until interrupted.  optuna-dashboard is an optional extra
(`pip install 'scalesearch[dashboard]'`).  What to look at: the contour plot of beta x
gamma (alpha is solved from them on a 2-D grid), the parallel-coordinate plot of alpha,
beta, gamma and the trials table's user attributes (nominal product, measured ratio,
FLOPs, params, seed).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import optuna

from scalesearch.errors import UserError
from scalesearch.runs.run_dir import read_run_info
from scalesearch.search.storage import open_storage


@dataclass(frozen=True)
class DashboardRequest:
    run_dir: Path
    host: str = "127.0.0.1"
    port: int = 8080


@dataclass(frozen=True)
class StudyRef:
    storage: str
    study: str


def study_of(run_dir: Path) -> StudyRef:
    """The storage URL and study name a grid run directory was made with."""
    info = read_run_info(run_dir)
    if info.get("kind") != "grid":
        raise UserError(f"{run_dir} holds a {info.get('kind')} run; the dashboard shows grid studies")
    identity = info.get("identity") or {}
    if not identity.get("storage") or not identity.get("study"):
        raise UserError(f"{run_dir}/run.json names no study; was it made by `scalesearch grid`?")
    return StudyRef(identity["storage"], identity["study"])


def storage_of(ref: StudyRef, run_dir: Path) -> optuna.storages.BaseStorage:
    return open_storage(ref.storage, Path(run_dir))


def load(ref: StudyRef, run_dir: Path) -> optuna.Study:
    return optuna.load_study(study_name=ref.study, storage=storage_of(ref, run_dir))


def run_dashboard(request: DashboardRequest) -> None:
    if importlib.util.find_spec("optuna_dashboard") is None:
        raise UserError("the dashboard needs optuna-dashboard: pip install 'scalesearch[dashboard]'")
    import optuna_dashboard

    ref = study_of(request.run_dir)
    study = load(ref, request.run_dir)
    names = ["validation accuracy", "cost ratio"][:len(study.directions)]
    optuna_dashboard.set_objective_names(study, names)
    optuna_dashboard.run_server(storage_of(ref, request.run_dir), host=request.host, port=request.port)
