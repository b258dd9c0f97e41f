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


def test_without_slurm_a_launch_is_one_line_and_submits_nothing(cli, tmp_path, monkeypatch):
    storage = _study(cli, tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))  # no sbatch, as on this machine
    result = cli("launch", "slurm", "--storage", storage, "--study", "s", "--folder", tmp_path / "jobs")
    assert result.exit_code == 1 and "no Slurm here (sbatch is not on PATH)" in result.output
    assert "internal error" not in result.output and not (tmp_path / "jobs").exists()


@pytest.mark.slow
def test_the_array_trains_the_whole_study(cli, plumbing, tmp_path):
    storage = _study(cli, tmp_path)
    submitted = launch_slurm(SlurmRequest(storage, "s", workers=2, folder=tmp_path / "jobs",
                                          placement=Placement(device="cpu"), cluster="local"))
    results = [job.result() for job in submitted["jobs"]]
    assert len(results) == 2 and sum(r["trained"] for r in results) >= 4  # the baseline and 3 points
    trials = optuna.load_study(study_name="s", storage=open_storage(storage, tmp_path)).get_trials()
    done = sorted(t.user_attrs["point"] for t in trials if t.state == TrialState.COMPLETE
                  and not t.user_attrs.get("duplicate"))
    assert done == sorted(set(done)) and len(done) == sum(r["trained"] for r in results)


@pytest.mark.parametrize("changes, message", [
    ({"workers": 10**8}, "workers must be at most 1,000"),
    ({"time_minutes": 10**9}, "time_minutes must be at most 525,600"),
    ({"partition": "gpu\n#SBATCH --uid=0"}, "partition 'gpu\\n#SBATCH --uid=0': only letters"),
    ({"study": "s t"}, "study 's t': only letters"),
    ({"extra": {"account": "a;b"}}, "submitit parameter account 'a;b'"),
])
def test_launch_refuses_what_would_change_the_script_or_overflow_slurm(changes, message):
    from scalesearch.errors import UserError

    with pytest.raises(UserError) as refused:
        SlurmRequest(**{"storage": "journal:x", "study": "s", "workers": 2, **changes})
    assert message in str(refused.value)


def test_launch_cli_refuses_a_newline_in_the_partition_in_one_line(cli, tmp_path):
    result = cli("launch", "slurm", "--storage", "journal:x", "--study", "s", "--partition", "gpu\nx",
                 "--folder", tmp_path / "jobs", "--dry-run")
    assert result.exit_code == 1 and "--partition" in result.output and "only letters" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "jobs").exists()
