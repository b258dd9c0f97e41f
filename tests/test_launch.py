"""`scalesearch launch slurm`: the job array submitit would submit (no Slurm here: the
script is checked, and the same array runs through submitit's local executor)."""

import optuna
import pytest
from optuna.trial import TrialState

from scalesearch.launch import SlurmRequest, launch_slurm
from scalesearch.requests import Placement
from scalesearch.search.storage import open_storage
from tests.test_join import GRID


def _study(cli, tmp_path):
    storage = f"journal:{tmp_path / 'study.journal'}"
    made = cli(*GRID, "-b", "resnet18", "--seeds", "1", "--storage", storage, "--study", "s", "--out", tmp_path / "run")
    assert made.exit_code == 0, made.output
    return storage


def test_the_dry_run_shows_the_job_array_submitit_would_submit(cli, tmp_path):
    storage = _study(cli, tmp_path)
    result = cli("launch", "slurm", "--storage", storage, "--study", "s", "--workers", "3", "--partition", "gpu",
                 "--gpus", "1", "--cpus-per-task", "4", "--time", "90", "--folder", tmp_path / "jobs", "--dry-run")
    assert result.exit_code == 0, result.output
    for line in ("#SBATCH --array=0-2%3", "#SBATCH --partition=gpu", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --time=90", "#SBATCH --gpus-per-node=1", "#SBATCH --job-name=scalesearch-s",
                 "submitit.core._submit"):
        assert line in result.stdout, line
    assert not (tmp_path / "jobs").exists()  # nothing submitted


def test_a_study_that_is_not_there_is_refused_before_anything_is_submitted(cli, tmp_path):
    result = cli("launch", "slurm", "--storage", f"journal:{tmp_path / 'none.journal'}", "--study", "absent",
                 "--folder", tmp_path / "jobs")
    assert result.exit_code == 1 and "no study 'absent'" in result.output
    assert not (tmp_path / "jobs").exists()
    assert cli("launch", "pbs", "--storage", "x", "--study", "y").exit_code == 1


@pytest.mark.slow
def test_the_array_trains_the_whole_study(cli, tmp_path):
    storage = _study(cli, tmp_path)
    submitted = launch_slurm(SlurmRequest(storage, "s", workers=2, folder=tmp_path / "jobs",
                                          placement=Placement(device="cpu"), cluster="local"))
    results = [job.result() for job in submitted["jobs"]]
    assert len(results) == 2 and sum(r["trained"] for r in results) >= 4  # the baseline and 3 points
    trials = optuna.load_study(study_name="s", storage=open_storage(storage, tmp_path)).get_trials()
    done = sorted(t.user_attrs["point"] for t in trials if t.state == TrialState.COMPLETE
                  and not t.user_attrs.get("duplicate"))
    assert done == sorted(set(done)) and len(done) == sum(r["trained"] for r in results)
