"""`scalesearch train`: JSON with both shapes' costs, --out / --resume, one-line errors."""

import json
import math

import pytest

from tests.tiny import DATA, write_space

TINY_SPACE = """
network:
  name: tiny
  resolution: 64
  activation: silu
  stem: {channels: 8, kernel: 3, stride: 2}
  stages: [mb_r1_k3_s1_e2_c8_se0.25, mb_r1_k3_s2_e2_c16_se0.25]
  head: {channels: 32}
proxy: {resolution: 16, epochs: 1, train_images: 256, batch_size: 64, lr: 0.2}
"""


@pytest.fixture
def space(tmp_path):
    return write_space(tmp_path, TINY_SPACE)


def train_args(space, *extra):
    return ("train", "-b", space, "--data", DATA, "--val-images", "128", "--test-images", "128",
            "--threads", "1", "--device", "cpu", *extra)


def test_json_has_accuracy_throughput_and_both_shapes(cli, space):
    result = cli(*train_args(space, "--format", "json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("val_accuracy", "test_accuracy", "images_per_second", "epochs", "params", "flops", "seconds"):
        assert key in data
    assert data["flops_shape"] == "deployment" and data["deployment_resolution"] == 64
    assert data["proxy_resolution"] == 16 and data["proxy_flops"] < data["flops"]  # the space's proxy: section
    assert data["train_images"] == 256 and data["epochs"] == 1
    # One epoch of 256 images: the health check's verdict, whichever it is, is the one its thresholds give.
    learned = data["val_accuracy"] >= 0.19 and data["first_loss"] <= 1.5 * math.log(10)
    assert data["status"] == ("ok" if learned else "failed-to-train")
    assert ("failed to train" in result.stderr) == (not learned)


def test_options_override_the_space_and_scale(cli, space):
    result = cli(*train_args(space, "--phi", "1", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15",
                             "--train-images", "128", "--resolution", "20", "--format", "json"))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["proxy_resolution"] == 20 and data["train_images"] == 128
    assert data["width"] == pytest.approx(1.1) and data["deployment_resolution"] == round(64 * 1.15)


def test_out_writes_metrics_and_resume_continues(cli, space, tmp_path):
    out = tmp_path / "run"
    first = cli(*train_args(space, "--out", out, "--format", "json"))
    assert first.exit_code == 0, first.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val_accuracy"] == json.loads(first.stdout)["val_accuracy"]
    import torch
    assert torch.load(out / "checkpoint.pt", weights_only=False)["extra"]["spec"]["name"] == "tiny"
    again = cli(*train_args(space, "--out", out))
    assert again.exit_code == 1 and "--resume" in again.stderr
    resumed = cli(*train_args(space, "--out", out, "--resume", "--format", "json"))
    assert resumed.exit_code == 0, resumed.output
    assert json.loads(resumed.stdout)["val_accuracy"] == metrics["val_accuracy"]


def test_table_output(cli, space):
    result = cli(*train_args(space))
    assert result.exit_code == 0, result.output
    assert "val accuracy" in result.stdout and "deployment" in result.stdout


def test_divergence_is_reported_not_a_crash(cli, space):
    result = cli(*train_args(space, "--lr", "1e9", "--format", "json"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert json.loads(result.stdout)["status"] == "diverged"
    assert "--lr" in result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("args, fragment", [
    (["--data", "mnist"], "unknown data source"),
    (["--data", "cifar10", "--data-dir", "/no/such/dir"], "no such directory"),
    (["--data", "fashion-mnist", "--data-dir", "/tmp"], "apt-get install dataset-fashion-mnist"),
    (["--epochs", "0"], "--epochs"),
    (["--device", "tpu"], "--device"),
    (["--resume"], "--resume needs --out"),
])
def test_bad_input_is_one_line_and_exit_1(cli, space, args, fragment):
    result = cli("train", "-b", space, *args)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]
