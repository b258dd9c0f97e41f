"""`scalesearch launch slurm`: a job array of workers for a study, submitted through submitit."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scalesearch.cli.app import FormatOption, OutputFormat, command, print_json, stderr
from scalesearch.cli.options import DataDirOption, DeviceOption, shared_parts
from scalesearch.errors import UserError
from scalesearch.launch import SlurmRequest, launch_slurm


@command("launch", "scalesearch launch slurm --storage postgresql://user@db-host/scalesearch --study grid-resnet50 --workers 32 --partition gpu --gpus 1")
def launch(
    scheduler: Annotated[str, typer.Argument(help="slurm (Kubernetes: deploy/kubernetes/, see the README).")],
    storage: Annotated[str, typer.Option(help="The study's storage, reachable from the nodes: postgresql://... or grpc://HOST:PORT.")],
    study: Annotated[str, typer.Option(help="The study (set up by `scalesearch grid ... --workers 0`).")],
    workers: Annotated[int, typer.Option(help="Array tasks: one worker each.")] = 4,
    partition: Annotated[Optional[str], typer.Option(help="Slurm partition.")] = None,
    time: Annotated[int, typer.Option(help="Minutes each task may run.")] = 60,
    cpus_per_task: Annotated[int, typer.Option(help="CPU cores per task.")] = 2,
    gpus: Annotated[int, typer.Option(help="GPUs per task (0: train on the CPU).")] = 0,
    folder: Annotated[Path, typer.Option(help="submitit's job folder (logs, pickled calls): on a disk the nodes share.")] = Path("runs/slurm"),
    data_dir: DataDirOption = None,
    device: DeviceOption = "auto",
    cluster: Annotated[str, typer.Option(hidden=True, help="slurm, or local: the same array as local processes.")] = "slurm",
    wait: Annotated[bool, typer.Option(help="Wait for every task and report what each trained.")] = False,
    dry_run: Annotated[bool, typer.Option(help="Print the sbatch script submitit would submit; submit nothing.")] = False,
    format: FormatOption = OutputFormat.table,
) -> None:
    """Start N workers of a study on Slurm: one job array through submitit (pip install 'scalesearch[slurm]')."""
    if scheduler != "slurm":
        raise UserError(f"launch {scheduler}: only slurm is launched from here; for Kubernetes apply "
                        "deploy/kubernetes/ (README, 'Beyond one machine')")
    request = SlurmRequest(storage, study, workers, partition, time, cpus_per_task, gpus, folder,
                           cluster=cluster, dry_run=dry_run, **shared_parts(SlurmRequest, locals()))
    submitted = launch_slurm(request)
    if dry_run:
        print(submitted["sbatch"])
        return
    jobs = submitted.pop("jobs")
    stderr.print(f"submitted {len(jobs)} worker(s) for study {study!r} ({cluster}): job {jobs[0].job_id.split('_')[0]}; "
                 f"logs in {submitted['folder']}", markup=False)
    if wait:
        submitted["results"] = [job.result() for job in jobs]
        trained = sum(r["trained"] for r in submitted["results"])
        stderr.print(f"every worker finished: {trained} unit(s) trained", markup=False)
    if format is OutputFormat.json:
        print_json(submitted)
