"""`--weights` for `train` and `expand --train`: a state_dict as the starting point."""

import json

import pytest
import torch

import scalesearch
from tests.tiny import DATA, TINY_SPACE, write_space


@pytest.fixture
def space(tmp_path):
    return write_space(tmp_path, TINY_SPACE)


def test_train_starts_from_weights_with_the_stem_and_classifier_fitted(cli, space, tmp_path):
    torch.save(scalesearch.build_model(space, seed=5).state_dict(), tmp_path / "w.pt")
    result = cli("train", "-b", space, "--data", DATA, "--val-images", "64", "--test-images", "64",
                 "--train-images", "128", "--epochs", "1", "--threads", "1", "--device", "cpu",
                 "--weights", tmp_path / "w.pt", "--format", "json")
    assert result.exit_code == 0, result.output
    weights = json.loads(result.stdout)["weights"]
    assert weights["adapted"] == ["stem.0.0.weight"]  # RGB stem summed for the 1-channel data
    assert weights["kept_fresh"] == ["classifier.weight", "classifier.bias"]  # 1000 vs 10 classes


def test_train_refuses_weights_of_another_shape_before_making_the_folder(cli, space, tmp_path):
    torch.save(scalesearch.build_model("resnet18").state_dict(), tmp_path / "w.pt")
    result = cli("train", "-b", space, "--data", DATA, "--weights", tmp_path / "w.pt", "--out", tmp_path / "run")
    assert result.exit_code == 1 and "--weights" in result.output and "differ" in result.output
    assert not (tmp_path / "run").exists()


def test_expand_train_loads_weights_into_the_members_they_fit(cli, space, tmp_path, monkeypatch):
    import scalesearch.training.loop as loop

    seen = []

    def fake_train_model(model, data, resolution, budget, **options):
        seen.append(model.stages[0][0].body[0][0].weight.detach().clone())
        return loop.TrainResult(val_accuracy=0.5, test_accuracy=0.4, images_per_second=1.0, epochs=1, seconds=0.1)

    monkeypatch.setattr("scalesearch.training.unit.train_model", fake_train_model)  # the one funnel
    reference = scalesearch.build_model(space, seed=9)
    torch.save(reference.state_dict(), tmp_path / "w.pt")
    result = cli("expand", "-b", space, "--phi", "0,1", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15",
                 "--train", "--data", "synthetic", "--device", "cpu", "--weights", tmp_path / "w.pt",
                 "--out", tmp_path / "fam", "--format", "json")
    assert result.exit_code == 0, result.output
    phi0, phi1 = json.loads(result.stdout)["members"]
    assert phi0["weights"]["tensors"] > 0 and phi1["weights"] is None and "tensor" in phi1["weights_note"]
    assert torch.equal(seen[0], reference.stages[0][0].body[0][0].weight)


def test_expand_weights_without_train_is_one_line(cli, space, tmp_path):
    result = cli("expand", "-b", space, "--phi", "0", "--preset", "paper", "--weights", tmp_path / "w.pt",
                 "--out", tmp_path / "o")
    assert result.exit_code == 1 and "add --train" in result.output


@pytest.mark.parametrize("source, message", [("tf", "TF 'same' padding"), ("keras", "unknown; known: torchvision, timm, tf")])
def test_weights_from_that_cannot_agree_is_refused_in_one_line(cli, tmp_path, source, message):
    result = cli("train", "-b", "efficientnet-b0", "--data", "synthetic", "--weights-from", source,
                 "--out", tmp_path / "run")
    assert result.exit_code == 1 and message in result.output and "--weights-from" in result.output
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
