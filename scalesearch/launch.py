"""launch: N workers of a grid's study started on a scheduler — Slurm, through submitit.

The study describes itself (join.py), so every worker runs the same call with no options
but where the study is: `launch_slurm` submits one job array of `workers` tasks through
submitit's executor (`map_array`), each task `run_join(JoinRequest(storage, study, ...))`.
submitit pickles that call into `folder`, which must be on a disk the nodes share; it is
the submitting user's own file, read back by their own jobs.  `cluster="local"` runs the
same array as local processes (submitit's LocalExecutor): a workstation, or a test.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scalesearch.errors import UserError
from scalesearch.join import JoinRequest, JoinResult, run_join, stored_request
from scalesearch.requests import Placement

CLUSTERS = ("slurm", "local")
# Slurm's default MaxArraySize is 1001 (task ids 0..1000): a larger array is refused by
# sbatch, and 10^8 workers is a typo. A year of wall time per task is the same.
MAX_WORKERS = 1000
MAX_MINUTES = 365 * 24 * 60
# What may stand in a Slurm partition list, a job name or a parameter written into the
# #SBATCH script: a newline there would write a line of its own.
_SAFE = re.compile(r"[A-Za-z0-9_.,:=@+/-]+")


@dataclass(frozen=True)
class SlurmRequest:
    storage: str
    study: str
    workers: int
    partition: str | None = None
    time_minutes: int = 60
    cpus_per_task: int = 2
    gpus: int = 0  # per task
    folder: Path = Path("runs/slurm")  # submitit's job folder: on a shared disk
    placement: Placement = field(default_factory=Placement)  # each worker's, on its node
    cluster: str = "slurm"
    dry_run: bool = False  # print the sbatch script, submit nothing
    extra: dict[str, Any] = field(default_factory=dict)  # more submitit parameters

    def __post_init__(self) -> None:
        for name in ("workers", "time_minutes", "cpus_per_task"):
            if getattr(self, name) < 1:
                raise UserError(f"{{{name}}} must be >= 1, got {getattr(self, name)}")
        if self.gpus < 0:
            raise UserError(f"{{gpus}} must be >= 0, got {self.gpus}")
        for name, ceiling in (("workers", MAX_WORKERS), ("time_minutes", MAX_MINUTES)):
            if getattr(self, name) > ceiling:
                raise UserError(f"{{{name}}} must be at most {ceiling:,}, got {getattr(self, name):,}")
        values = {"{partition}": self.partition, "{study}": self.study,
                  **{f"submitit parameter {k}": v for k, v in self.extra.items() if isinstance(v, str)}}
        for label, value in values.items():
            if value is not None and not _SAFE.fullmatch(value):
                raise UserError(f"{label} {value!r}: only letters, digits and _ . , : = @ + / - may stand "
                                "in the job script")
        if self.cluster not in CLUSTERS:
            raise UserError(f"{{cluster}} must be one of {', '.join(CLUSTERS)}, got {self.cluster!r}")

    @property
    def job_name(self) -> str:
        return f"scalesearch-{self.study}"

    def parameters(self) -> dict[str, Any]:
        """The job's resources as submitit's Slurm parameters."""
        params: dict[str, Any] = {"time": self.time_minutes, "cpus_per_task": self.cpus_per_task, **self.extra}
        if self.partition:
            params["partition"] = self.partition
        if self.gpus:
            params["gpus_per_node"] = self.gpus
        return params


def worker_job(request: JoinRequest) -> dict[str, Any]:
    """One array task: join the study, train until nothing is left (submitit pickles this by name)."""
    result: JoinResult = run_join(request)
    return {"study": result.study, "trained": result.trained}


def launch_slurm(request: SlurmRequest) -> dict[str, Any]:
    """Submit the job array (or, dry, show its script); return what was submitted."""
    if importlib.util.find_spec("submitit") is None:
        raise UserError("launch slurm needs submitit: pip install 'scalesearch[slurm]'")
    stored_request(request.storage, request.study)  # a study that is not there is refused before submitting
    folder = str(Path(request.folder).resolve())
    if request.dry_run:
        from scalesearch.compat import submitit_sbatch_script

        return {"dry_run": True, "sbatch": submitit_sbatch_script(folder, request.job_name, request.parameters(),
                                                                  request.workers)}
    if request.cluster == "slurm" and shutil.which("sbatch") is None:
        # submitit would fail deep inside with "Could not detect srun" after creating the folder.
        raise UserError("launch slurm: no Slurm here (sbatch is not on PATH): run it where you submit jobs "
                        "(a login node), or add --dry-run to see the script it would submit")
    import submitit

    executor = submitit.AutoExecutor(folder=folder, cluster=request.cluster)
    params = request.parameters()
    executor.update_parameters(name=request.job_name, timeout_min=params.pop("time"),
                               cpus_per_task=params.pop("cpus_per_task"),
                               **({"gpus_per_node": params.pop("gpus_per_node")} if "gpus_per_node" in params else {}),
                               **{f"slurm_{k}": v for k, v in params.items()},
                               slurm_array_parallelism=request.workers)
    join = JoinRequest(request.storage, request.study, request.placement)
    jobs = executor.map_array(worker_job, [join] * request.workers)
    return {"dry_run": False, "cluster": request.cluster, "folder": folder, "jobs": jobs,
            "job_ids": [job.job_id for job in jobs]}
