"""The device check's dry run (so the script a GPU session runs cannot rot), and
--latency-device: where `--cost latency` is timed, refused in one line where it cannot be."""

import json
import re
import subprocess
import sys

import pytest
import torch

from scalesearch.search.candidates import GridSpec
from scalesearch.search.study import SearchConfig
from scalesearch.spec.spaces import load_space
from scalesearch.training.budget import ProxyBudget
from tests.conftest import REPO


@pytest.mark.slow
def test_the_device_check_dry_run_runs_every_step(tmp_path):
    done = subprocess.run([sys.executable, "benchmarks/device_check.py", "--dry-run", "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    steps = summary["steps"]
    assert summary["dry_run"] and list(steps) == ["machine", "cuda tests", "throughput resnet18", "grid",
                                                  "compare", "latency"]
    assert {name: r["status"] for name, r in steps.items()} == dict.fromkeys(steps, "ok")
    rates = steps["throughput resnet18"]["result"]
    assert rates["ours"]["images_per_second"] > 0 and rates["ratio_vs_plain"] > 0
    collected = re.fullmatch(r"(\d+) tests? collected in .*", steps["cuda tests"]["result"]["outcome"])
    assert collected and int(collected.group(1)) >= 5  # collected, not run: there is no GPU
    assert steps["grid"]["result"]["summary"]["trainings"] > 0
    assert "| throughput resnet18 | ok |" in (tmp_path / "summary.md").read_text()


def test_without_a_gpu_the_real_check_refuses_in_one_line(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is here: the real check would run")
    done = subprocess.run([sys.executable, "benchmarks/device_check.py", "--out", str(tmp_path / "c")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "--dry-run" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists()


def test_latency_is_timed_on_the_latency_device_not_the_training_one():
    grid = GridSpec(cost="latency", latency_device="cpu", latency_batch=64)
    assert grid.meter("cuda").device == "cpu" and grid.meter("cuda").batch == 64
    assert GridSpec(cost="latency").meter("cuda").device == "cuda"  # default: where it trains


def test_the_default_latency_device_keeps_existing_studies_fingerprints():
    space = load_space("resnet18")
    config = SearchConfig(baseline="resnet18", grid=GridSpec(), budget=ProxyBudget())
    assert "latency_device" not in config.fingerprint(space)["grid"]
    timed = SearchConfig(baseline="resnet18", grid=GridSpec(cost="latency", latency_device="cpu"), budget=ProxyBudget())
    assert timed.fingerprint(space)["grid"]["latency_device"] == "cpu"


@pytest.mark.parametrize("command", [["grid", "-b", "resnet18", "--cost", "latency"],
                                     ["compare", "-b", "resnet18", "--cost", "latency"],
                                     ["expand", "-b", "resnet18", "--preset", "paper", "--phi", "0..1",
                                      "--exact-cost", "--cost", "latency"]])
@pytest.mark.parametrize("device, message", [("gpu", "--latency-device must be cpu, cuda or auto, got 'gpu'"),
                                             ("cuda", "--latency-device cuda: no CUDA device is available here")])
def test_a_latency_device_that_cannot_be_used_is_refused_before_anything_is_written(cli, tmp_path, command,
                                                                                    device, message):
    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("a GPU is here")
    out = tmp_path / "run"
    result = cli(*command, "--latency-device", device, "--out", out)
    assert result.exit_code == 1 and message in result.output
    assert not out.exists()
