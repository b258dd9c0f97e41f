"""The CUDA path: data on the GPU, bf16 autocast, the step replayed as a CUDA graph, latency
timed on the GPU.  Marked `cuda`: skipped without a GPU (CI has none); run by
benchmarks/device_check.sh on a machine that has one."""

import math

import pytest
import torch

from scalesearch.costs.latency import measure_latency
from scalesearch.costs.variant import Variant
from scalesearch.spec.spaces import load_space
from scalesearch.training.budget import ProxyBudget
from scalesearch.training.data import load_data
from scalesearch.training.loop import train_model
from tests.tiny import DATA

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device here")]


def _train(baseline="resnet18", graphs=True, epochs=2, **kwargs):
    data = load_data(DATA, train_images=1024, val_images=500, test_images=500)
    variant = Variant(load_space(baseline)).at_proxy(32, data.in_channels, data.num_classes)
    budget = ProxyBudget(epochs=epochs, train_images=1024, batch_size=64, val_images=500)
    return train_model(variant.build(0), data, variant.resolution, budget, device="cuda", graphs=graphs, **kwargs)


@pytest.mark.parametrize("baseline", ["resnet18", "efficientnet-b0", "mobilenetv2"])
def test_a_cuda_training_replays_its_step_as_a_graph_and_learns(baseline):
    result = _train(baseline)
    assert result.status == "ok" and result.step == "cuda-graph", result.step_note
    assert result.device.startswith("cuda")
    losses = [h["train_loss"] for h in result.history]
    assert all(math.isfinite(v) for v in losses) and losses[1] < losses[0]
    assert result.val_accuracy > 0.3  # chance is 0.1


def test_graph_and_eager_steps_train_the_same_network():
    graphed, eager = _train(graphs=True), _train(graphs=False)
    assert eager.step == "eager" and graphed.step == "cuda-graph"
    # the same kernels on the same batches: equal up to cuDNN's non-deterministic reductions
    for g, e in zip(graphed.history, eager.history):
        assert g["train_loss"] == pytest.approx(e["train_loss"], abs=0.05)
        assert g["lr"] == e["lr"]
    assert graphed.val_accuracy == pytest.approx(eager.val_accuracy, abs=0.06)


def test_a_graphed_training_resumes_from_its_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.pt"

    def stop(epoch, accuracy):
        raise KeyboardInterrupt  # killed after the first epoch's checkpoint

    with pytest.raises(KeyboardInterrupt):
        _train(checkpoint=path, on_epoch=stop)
    resumed = _train(checkpoint=path, resume=True)
    whole = _train()
    assert resumed.status == "ok" and resumed.epochs == 2
    assert resumed.step == "cuda-graph", resumed.step_note  # the learning rate came back as a tensor it can read
    assert resumed.history[1]["lr"] == whole.history[1]["lr"]
    assert resumed.history[1]["train_loss"] == pytest.approx(whole.history[1]["train_loss"], abs=0.05)


def test_latency_on_the_gpu_names_it_and_grows_with_the_batch():
    model = Variant(load_space("resnet18")).build(0)
    one = measure_latency(model, 3, 224, device="cuda", batch=1)
    many = measure_latency(model, 3, 224, device="cuda", batch=64)
    assert one.device.startswith("cuda") and torch.cuda.get_device_name() in one.machine
    assert 0 < one.ms < many.ms


def test_the_cli_trains_on_cuda(cli, tmp_path):
    import json

    result = cli("train", "-b", "resnet18", "--data", DATA, "--epochs", "1", "--train-images", "512",
                 "--val-images", "200", "--test-images", "200", "--device", "cuda", "--out", tmp_path / "t",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["step"] == "cuda-graph"
