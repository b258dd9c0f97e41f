"""`scalesearch export`: every member of a tiny family, in every format, reloads and matches."""

import importlib.util
import json

import pytest
import torch

from tests.tiny import tiny_family

HAS_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript"))
FORMATS = ["pt2", "state-dict",
           pytest.param("onnx", marks=pytest.mark.skipif(not HAS_ONNX, reason="the [export] extra (onnx, onnxscript) is not installed"))]


@pytest.fixture(scope="module")
def family(tmp_path_factory):
    from typer.testing import CliRunner

    from scalesearch.cli import app

    runner = CliRunner()
    return tiny_family(lambda *a: runner.invoke(app, [str(x) for x in a]), tmp_path_factory.mktemp("fam"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_member_exports_reloads_and_matches_the_eager_model(cli, family, tmp_path, fmt):
    out = tmp_path / fmt
    result = cli("export", family, "--format", fmt, "--out", out, "--output", "json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload == {**json.loads((out / "exports.json").read_text()), "out": str(out)}
    members = payload["members"]
    assert [m["member"] for m in members] == ["member-phi0", "member-phi1"]
    resolutions = [m["resolution"] for m in json.loads((family / "family.json").read_text())["members"]]
    assert [m["input"][2] for m in members] == resolutions and resolutions[0] == 64  # deployment shapes
    for m in members:
        assert m["check"]["ok"], m
        assert (out / m["file"]).is_file()
        check = m["check"]
        assert check["max_abs_diff"] <= check["tolerance"] * check["max_abs_output"]
        assert check["max_abs_output"] > 0
    if fmt == "state-dict":
        assert all(m["check"]["max_abs_diff"] == 0.0 and (out / m["spec_file"]).is_file() for m in members)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_a_failed_check_is_recorded_then_reported_in_one_line(cli, family, tmp_path, monkeypatch):
    from dataclasses import replace

    from scalesearch.models.export_formats import EXPORT_FORMATS

    monkeypatch.setitem(EXPORT_FORMATS, "pt2", replace(EXPORT_FORMATS["pt2"], tolerance=-1.0))  # no file can pass
    result = cli("export", family / "member-phi0.yaml", "--format", "pt2", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "differ from the eager model" in result.output
    record = json.loads((tmp_path / "o" / "exports.json").read_text())["members"][0]
    assert record["check"]["ok"] is False


def test_a_full_disk_is_one_line_and_nothing_half_written(cli, family, tmp_path, monkeypatch):
    from collections import namedtuple

    from scalesearch import export

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(export.shutil, "disk_usage", lambda path: usage(1 << 30, 1 << 30, 4096))
    result = cli("export", family, "--format", "state-dict", "--out", tmp_path / "o")
    assert result.exit_code == 1 and "MB free: free some space or give --out another disk" in result.output
    assert "internal error" not in result.output
    assert not [p for p in (tmp_path / "o").iterdir() if p.suffix in (".pt", ".pt2", ".yaml")]


def test_one_member_yaml_exports_beside_it_by_default(cli, family):
    result = cli("export", family / "member-phi1.yaml", "--format", "pt2", "--output", "json")
    assert result.exit_code == 0, result.output
    out = family / "export-pt2"
    px = json.loads(result.stdout)["members"][0]["input"][2]
    program = torch.export.load(out / "member-phi1.pt2")
    assert program.module()(torch.zeros(1, 3, px, px)).shape == (1, 1000)


def test_exported_weights_come_from_a_state_dict_file(cli, family, tmp_path):
    import scalesearch

    model = scalesearch.build_model(family / "member-phi0.yaml", seed=7)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    result = cli("export", family / "member-phi0.yaml", "--format", "state-dict", "--weights", tmp_path / "w.pt",
                 "--out", tmp_path / "o")
    assert result.exit_code == 0, result.output
    saved = torch.load(tmp_path / "o" / "member-phi0.pt", weights_only=True)
    assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("target, fmt, message", [
    ("nowhere", "pt2", "no such file or folder"),
    (".", "pt2", "no family.json"),
    ("family", "tflite", "'tflite': unknown; known: pt2, onnx, state-dict"),
])
def test_bad_targets_are_one_line(cli, family, tmp_path, target, fmt, message):
    where = family if target == "family" else tmp_path / target if target != "." else tmp_path
    result = cli("export", where, "--format", fmt, "--out", tmp_path / "o")
    assert result.exit_code in (1, 2) and message in result.output and "Traceback" not in result.output


@pytest.mark.skipif(not HAS_ONNX, reason="the [export] extra (onnx, onnxscript) is not installed")
def test_onnx_is_checked_with_onnx_reference_where_onnxruntime_is_absent(cli, family, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    result = cli("export", family / "member-phi0.yaml", "--format", "onnx", "--out", tmp_path / "o", "--output", "json")
    assert result.exit_code == 0, result.output
    check = json.loads(result.stdout)["members"][0]["check"]
    assert check["runner"] == "onnx.reference" and check["ok"]


def test_onnx_without_the_extra_is_one_clear_line(cli, family, tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxscript" else real(name, *a))
    result = cli("export", family, "--format", "onnx", "--out", tmp_path / "o")
    assert result.exit_code == 1
    assert "pip install 'scalesearch[export]'" in result.output and "onnxscript" in result.output
    assert not (tmp_path / "o").exists()
