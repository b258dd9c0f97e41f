"""`train --nproc N`: real ranks over gloo, the same accuracy as one process, rank 0 alone
writes, a SIGKILLed launcher leaves no rank behind and its run resumes, bad --nproc is one line."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from scalesearch.training import distributed
from scalesearch.device import available_cores
from tests.tiny import DATA, write_space

TINY_SPACE = """
network:
  name: tiny
  resolution: 64
  activation: silu
  dropout: 0.1
  drop_path: 0.1
  stem: {channels: 8, kernel: 3, stride: 2}
  stages: [mb_r2_k3_s1_e2_c8_se0.25, mb_r1_k3_s2_e2_c16_se0.25]
  head: {channels: 32}
proxy: {resolution: 16, epochs: 2, train_images: 512, batch_size: 64, lr: 0.2}
"""
# A network without batch norm or dropout: per-sample losses are independent, so DDP over
# two shards of each batch does the same arithmetic as one process on the whole batch, up
# to float32 summation order.  (With batch norm each rank normalises its own shard and
# the two runs differ for real, by ~20% of the weights' movement in one epoch.)
NO_BN_FACTORY = """
from torch import nn

def nobn(depth, width, num_classes, in_channels):
    return nn.Sequential(nn.Conv2d(in_channels, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, num_classes))

nobn.resolution = 16
"""


@pytest.fixture
def space(tmp_path):
    return write_space(tmp_path, TINY_SPACE)


def train_args(space, *extra):
    return ("train", "-b", space, "--data", DATA, "--val-images", "256", "--test-images", "256",
            "--threads", "1", "--device", "cpu", "--format", "json", *map(str, extra))


def scalesearch(*args, **popen):
    return subprocess.Popen([sys.executable, "-m", "scalesearch", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie has already died


@pytest.mark.slow
def test_two_processes_do_the_arithmetic_of_one(tmp_path):
    (tmp_path / "nobn.py").write_text(NO_BN_FACTORY)
    args = ("train", "-b", "nobn:nobn", "--data", DATA, "--val-images", "256", "--test-images", "256",
            "--train-images", "512", "--batch-size", "64", "--lr", "0.5", "--epochs", "2",
            "--resolution", "16", "--threads", "1", "--device", "cpu", "--format", "json")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    runs = {}
    for nproc in (1, 2):
        proc = scalesearch(*args, "--nproc", nproc, "--out", tmp_path / f"n{nproc}", cwd=tmp_path, env=env)
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr
        runs[nproc] = json.loads(stdout)
    assert runs[2]["processes"] == 2 and runs[2]["steps"] == runs[1]["steps"] == 16
    states = {n: torch.load(tmp_path / f"n{n}" / "checkpoint.pt", weights_only=False) for n in (1, 2)}
    one, two = states[1]["model"], states[2]["model"]
    gap = max((one[k] - two[k]).abs().max().item() for k in one)
    # float32 summation order alone; a wrong average, shard or learning rate moves the
    # weights by ~0.1-0.5 after these 16 steps, four orders of magnitude more
    assert gap < 1e-5, gap
    assert runs[2]["val_accuracy"] == runs[1]["val_accuracy"]
    losses = [[h["train_loss"] for h in states[n]["history"]] for n in (1, 2)]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)


@pytest.mark.slow
def test_two_processes_with_batch_norm_train_and_rank_0_alone_writes(cli, space, tmp_path):
    out = tmp_path / "run"
    two = scalesearch(*train_args(space, "--nproc", 2, "--out", out))
    stdout, stderr = two.communicate(timeout=240)
    assert two.returncode == 0, stderr
    double = json.loads(stdout)  # stdout is one JSON document
    assert double["processes"] == 2 and double["threads"] == 1 and double["status"] == "ok"
    assert double["epochs"] == 2 and double["val_accuracy"] > 0.2  # it learned: chance is 0.1
    # rank 0 alone writes: the two files, complete, and nothing from another rank
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json", "run.json", "run.lock"]
    assert json.loads((out / "metrics.json").read_text())["val_accuracy"] == double["val_accuracy"]
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["epoch"] == 2 and state["processes"] == 2 and len(state["rng"]["torch_by_rank"]) == 2


def test_only_the_main_rank_writes(space, tmp_path, monkeypatch):
    """The gate itself, in one process: a rank that is not rank 0 writes no file (the
    launcher alone makes the run folder and its run.json)."""
    from scalesearch.requests import compose
    from scalesearch.train import TrainRequest, train_rank

    monkeypatch.setattr(distributed, "is_main", lambda: False)
    out = tmp_path / "run"
    out.mkdir()
    metrics = train_rank(compose(TrainRequest, dict(baseline=str(space), data=DATA, epochs=1, train_images=128,
                                                    val_images=256, test_images=256, threads=1, device="cpu",
                                                    out=out)))
    assert metrics["status"] in ("ok", "failed-to-train")  # a finished training, judged (training/health.py)
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_a_killed_launcher_takes_its_ranks_along_and_the_run_resumes(cli, space, tmp_path):
    out, epochs = tmp_path / "run", 6
    launcher = scalesearch(*train_args(space, "--nproc", 2, "--out", out, "--epochs", epochs,
                                       "--train-images", 256))
    checkpoint = out / "checkpoint.pt"
    deadline = time.monotonic() + 180
    while not checkpoint.exists():  # written atomically after each epoch
        assert launcher.poll() is None, launcher.communicate()[1]
        assert time.monotonic() < deadline, "no checkpoint after 180 s"
        time.sleep(0.05)
    ranks = [int(pid) for pid in
             Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()]
    os.kill(launcher.pid, signal.SIGKILL)
    launcher.communicate()
    assert len(ranks) == 2
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in ranks) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(pid) for pid in ranks), "a rank outlived its launcher"
    saved = torch.load(checkpoint, weights_only=False)
    assert 1 <= saved["epoch"] < epochs and not (out / "metrics.json").exists()

    resumed = cli(*train_args(space, "--nproc", 2, "--out", out, "--epochs", epochs,
                              "--train-images", 256, "--resume"))
    assert resumed.exit_code == 0, resumed.output
    result = json.loads(resumed.stdout)
    assert result["epochs"] == epochs and len(result["history"]) == epochs
    assert result["history"][:saved["epoch"]] == saved["history"]  # continued, not restarted
    assert json.loads((out / "metrics.json").read_text())["epochs"] == epochs


@pytest.mark.parametrize("nproc, fragment", [
    (99, f"the {available_cores()} CPU cores"), (0, "--nproc must be >= 1"), (-2, "--nproc must be >= 1"),
])
def test_bad_nproc_is_one_line_and_exit_1(cli, space, nproc, fragment):
    result = cli(*train_args(space, "--nproc", nproc))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0] and "Traceback" not in result.output


@pytest.mark.slow
def test_an_error_in_the_ranks_is_the_launchers_one_line(cli, space):
    result = cli(*train_args(space, "--nproc", 2, "--train-images", 10**7))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--train-images" in lines[0], result.stderr


def test_one_process_helpers_are_identity():
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
    assert distributed.shard(7) == slice(0, 7)
    value = torch.tensor(3.0)
    assert distributed.all_reduce_sum(value) is value
