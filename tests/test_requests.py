"""Composed requests: each shared setting is declared once (scalesearch/requests.py), every
command's request embeds the parts it uses, the CLI maps its options onto them, and a
request is still recorded flat, as before it was composed."""

import dataclasses
import doctest
import importlib
import pkgutil

import pytest

import scalesearch
from scalesearch.cli import options
from scalesearch.compare import CompareRequest
from scalesearch.grid import GridRequest
from scalesearch.requests import PARTS, BudgetChoice, DataChoice, LatencyChoice, Placement, compose, flat, parts

SHARED = {f.name: part.__name__ for part in PARTS for f in dataclasses.fields(part)}


def request_classes() -> list[type]:
    """Every `...Request` dataclass the package defines (the CLI only parses into them)."""
    found = []
    for module in pkgutil.walk_packages(scalesearch.__path__, "scalesearch."):
        if module.name.startswith(("scalesearch.cli", "scalesearch.__main__")):
            continue
        for value in vars(importlib.import_module(module.name)).values():
            if (isinstance(value, type) and dataclasses.is_dataclass(value) and value.__name__.endswith("Request")
                    and value.__module__ == module.name):
                found.append(value)
    return found


REQUESTS = request_classes()


def own_fields(kind: type) -> set[str]:
    return {f.name for f in dataclasses.fields(kind)} - set(parts(kind))


def test_every_command_request_is_found():
    names = {kind.__name__ for kind in REQUESTS}
    assert {"GridRequest", "CompareRequest", "ExpandRequest", "TrainRequest", "TransferRequest",
            "JoinRequest", "SlurmRequest"} <= names


def test_the_parts_share_no_field_name():
    assert len(SHARED) == sum(len(dataclasses.fields(part)) for part in PARTS)


def test_no_two_requests_declare_a_field_a_shared_part_holds():
    declared: dict[str, list[str]] = {}
    for kind in REQUESTS:
        for name in own_fields(kind) & set(SHARED):
            declared.setdefault(name, []).append(kind.__name__)
    twice = {name: kinds for name, kinds in declared.items() if len(kinds) > 1}
    assert not twice, f"declared by several requests, held by a shared part: {twice}"


@pytest.mark.parametrize("kind", [k for k in REQUESTS if parts(k)], ids=lambda k: k.__name__)
def test_a_composed_request_declares_none_of_its_parts_fields(kind):
    held = {f.name for part in parts(kind).values() for f in dataclasses.fields(part)}
    assert not own_fields(kind) & held
    assert not own_fields(kind) & set(SHARED), f"{kind.__name__}: embed the part instead"


def test_a_request_is_recorded_flat_and_read_back():
    request = GridRequest(baseline="resnet18", dataset=DataChoice(data="synthetic", val_images=64),
                          budget=BudgetChoice(epochs=2, seed=3), placement=Placement(device="cpu", threads=1),
                          timing=LatencyChoice(latency_batch=8), seeds=1)
    record = flat(request)
    assert record["data"] == "synthetic" and record["epochs"] == 2 and record["threads"] == 1
    assert record["latency_batch"] == 8 and record["seeds"] == 1
    assert not set(record) & set(parts(GridRequest))
    assert compose(GridRequest, record) == request
    assert request.as_dict() == record


def test_an_old_flat_record_still_composes():
    """A run.json or study written before requests were composed holds the same flat keys."""
    old = {"baseline": "mobilenetv2", "out": "runs/c", "data": "synthetic", "data_dir": None, "epochs": 1,
           "train_images": 256, "val_images": 200, "test_images": None, "batch_size": None, "lr": None,
           "seed": 4, "seeds": 2, "device": "cpu", "workers": None, "threads": 2, "latency_threads": 1,
           "latency_batch": 1, "latency_device": None, "command": ""}
    request = compose(CompareRequest, old)
    assert request.budget.seed == 4 and request.placement == Placement("cpu", 2)
    assert {k: v for k, v in request.as_dict().items() if k in old} == old


def test_compose_refuses_a_name_no_field_holds():
    with pytest.raises(TypeError):
        compose(GridRequest, {"baseline": "resnet18", "epoch": 2})


def test_the_option_mapping_example_holds():
    assert doctest.testmod(options).failed == 0


# -- the CLI maps its options onto the parts ------------------------------------------------

def captured(monkeypatch, module: str, runner: str) -> list:
    """Replace a CLI command's run function with one that records the request and stops."""
    seen: list = []

    def record(request, *args, **kwargs):
        seen.append(request)
        raise SystemExit(0)

    monkeypatch.setattr(importlib.import_module(f"scalesearch.cli.{module}"), runner, record)
    return seen


DATA = ["--data", "synthetic", "--data-dir", "/d", "--train-images", "128", "--epochs", "2",
        "--batch-size", "32", "--lr", "0.05", "--seed", "7", "--device", "cpu"]
IMAGES = ["--val-images", "64", "--test-images", "32"]
TIMING = ["--latency-threads", "2", "--latency-batch", "4", "--latency-device", "cpu"]


@pytest.mark.parametrize("command, runner", [("grid", "run_grid"), ("compare", "run_compare")])
def test_grid_and_compare_map_every_shared_option(cli, monkeypatch, tmp_path, command, runner):
    seen = captured(monkeypatch, command, runner)
    cli(command, "--baseline", "resnet18", *DATA, *IMAGES, *TIMING, "--threads", "1", "--out", tmp_path)
    request = seen[0]
    assert request.dataset == DataChoice("synthetic", 128, 64, 32)
    assert request.budget == BudgetChoice(2, 32, 0.05, 7)
    assert request.placement == Placement("cpu", 1, "/d")
    assert request.timing == LatencyChoice(2, 4, "cpu")


def test_expand_maps_its_shared_options(cli, monkeypatch, tmp_path):
    seen = captured(monkeypatch, "expand", "run_expand")
    cli("expand", "--baseline", "resnet18", "--train", *DATA, *TIMING, "--out", tmp_path)
    request = seen[0]
    assert request.dataset == DataChoice("synthetic", 128)  # expand takes the default split sizes
    assert request.budget == BudgetChoice(2, 32, 0.05, 7)
    assert request.placement == Placement("cpu", None, "/d")
    assert request.timing == LatencyChoice(2, 4, "cpu")


def test_train_maps_its_shared_options(cli, monkeypatch, tmp_path):
    seen = captured(monkeypatch, "train", "run_train")
    cli("train", "--baseline", "resnet18", *DATA, *IMAGES, "--threads", "3", "--optimizer", "rmsprop")
    request = seen[0]
    assert request.dataset == DataChoice("synthetic", 128, 64, 32)
    assert request.budget == BudgetChoice(2, 32, 0.05, 7)
    assert request.placement == Placement("cpu", 3, "/d")
    assert request.optimizer == "rmsprop"


def test_transfer_maps_its_placement(cli, monkeypatch, tmp_path):
    seen = captured(monkeypatch, "transfer", "run_transfer")
    cli("transfer", "--from", tmp_path, "--device", "cpu", "--threads", "2", "--data-dir", "/d")
    assert seen[0].placement == Placement("cpu", 2, "/d")


def test_worker_maps_its_placement(cli, monkeypatch):
    seen = captured(monkeypatch, "worker", "run_join")
    cli("worker", "--storage", "journal:x", "--study", "s", "--device", "cpu", "--threads", "2", "--data-dir", "/d")
    assert seen[0].placement == Placement("cpu", 2, "/d")


def test_a_part_given_whole_replaces_its_fields_values():
    """How a joining worker puts its own host's placement over the study's (join.py)."""
    record = {"baseline": "resnet18", "device": "cuda", "threads": 8, "placement": Placement("cpu", 1)}
    assert compose(GridRequest, record).placement == Placement("cpu", 1)
