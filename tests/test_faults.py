"""Nothing lost, nothing hung, no traceback: bad input and faults, through the CLI.

Every bad input gets one line on stderr and exit code 1 (never a traceback, nothing
half-written); every fault — a torn record, a full disk, a killed parent — leaves every
finished unit where it was, and the rerun goes on from them.
"""

import gzip
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.tiny import DATA

TINY_GRID = ["--step", "0.4", "--epochs", "1", "--train-images", "128", "--val-images", "64",
             "--test-images", "64", "--batch-size", "64", "--device", "cpu", "--seeds", "1"]
TINY_TRAIN = ["--data", DATA, "--epochs", "1", "--train-images", "128", "--val-images", "64",
              "--test-images", "64", "--batch-size", "64", "--threads", "1", "--device", "cpu"]


def one_line_error(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert fragment in " ".join(result.stderr.split()), result.stderr


def idx(path: Path, array: bytes, shape: tuple[int, ...]) -> None:
    header = struct.pack(">HBB", 0, 8, len(shape)) + struct.pack(f">{len(shape)}I", *shape)
    path.write_bytes(gzip.compress(header + array))


@pytest.fixture
def files(tmp_path):
    """Malformed inputs of every kind scalesearch reads."""
    (tmp_path / "binary.yaml").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "list.yaml").write_text("- just\n- a list\n")
    (tmp_path / "badblock.yaml").write_text("network: {name: x, stem: {channels: 8}, stages: [zz_r1_c8]}")
    (tmp_path / "a_file").write_text("not a folder")
    short = tmp_path / "short-labels"
    short.mkdir()
    idx(short / "train-images-idx3-ubyte.gz", bytes(600 * 4), (6, 10, 10))  # 6 images, 10 x 10 ... wrong size
    idx(short / "train-images-idx3-ubyte.gz", bytes(6 * 28 * 28), (6, 28, 28))
    idx(short / "train-labels-idx1-ubyte.gz", bytes(5), (5,))  # one label short
    idx(short / "t10k-images-idx3-ubyte.gz", bytes(2 * 28 * 28), (2, 28, 28))
    idx(short / "t10k-labels-idx1-ubyte.gz", bytes(2), (2,))
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        idx(truncated / name, bytes(4 * 28 * 28), (4, 28, 28))
    whole = (truncated / "train-labels-idx1-ubyte.gz").read_bytes()
    (truncated / "train-labels-idx1-ubyte.gz").write_bytes(whole[: len(whole) // 2])
    folder = tmp_path / "images"
    for split, classes in (("train", ("a",)), ("val", ("a", "b"))):
        for name in classes:
            (folder / split / name).mkdir(parents=True)
            (folder / split / name / "x.png").write_bytes(b"\x89PNG not really")
    (tmp_path / "notrun").mkdir()
    (tmp_path / "badrun").mkdir()
    (tmp_path / "badrun" / "run.json").write_bytes(b"\x00\xff" * 20)
    return tmp_path


CASES = [
    # profile: sizes, multipliers, shapes, baselines
    (["profile", "-b", "efficientnet-b0", "--width", "1000"], "would need about"),
    (["profile", "-b", "efficientnet-b0", "--phi", "50", "--alpha", "1.2", "--beta", "1.1", "--gamma", "1.15"],
     "would need about"),
    (["profile", "-b", "resnet18", "--width", "0"], "--width must be a positive"),
    (["profile", "-b", "resnet18", "--width", "nan"], "--width must be a positive"),
    (["profile", "-b", "resnet18", "--resolution", "-5"], "--resolution"),
    (["profile", "-b", "resnet18", "--num-classes", "0"], "--num-classes"),
    (["profile", "-b", "resnet18", "--max-memory", "-1"], "--max-memory"),
    (["profile", "-b", "nosuch"], "unknown baseline 'nosuch'"),
    (["profile", "-b", "{d}/missing.yaml"], "no such file"),
    (["profile", "-b", "{d}/binary.yaml"], "not a text search space"),
    (["profile", "-b", "{d}/list.yaml"], "expected a mapping"),
    (["profile", "-b", "{d}/badblock.yaml"], "unknown kind 'zz'"),
    (["profile", "-b", "resnet18", "--latency", "--latency-threads", "0"], "--latency-threads"),
    # train: budget, data, folders
    (["train", "-b", "resnet18", *TINY_TRAIN, "--epochs", "0"], "--epochs must be a whole number >= 1"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--batch-size", "0"], "--batch-size"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--lr", "-1"], "--lr must be a positive"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--val-images", "0"], "--val-images"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--test-images", "-1"], "--test-images"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--threads", "0"], "--threads must be >= 1"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--nproc", "0"], "--nproc must be >= 1"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--optimizer", "adam"], "--optimizer must be one of"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--data", "nosuch"], "unknown data source 'nosuch'"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--data", "cifar10"], "needs --data-dir"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--data", "fashion-mnist", "--data-dir", "{d}/short-labels"],
     "6 images but 5 labels"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--data", "fashion-mnist", "--data-dir", "{d}/truncated"],
     "is it truncated?"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--data", "imagefolder", "--data-dir", "{d}/images"],
     "has classes that"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--resume"], "--resume needs --out"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--out", "{d}/a_file"], "not a folder"),
    (["train", "-b", "resnet18", *TINY_TRAIN, "--resolution", "4"], "--resolution must be >= 8"),
    # grid: grid, racing, storage, workers
    (["grid", "-b", "resnet18", *TINY_GRID, "--step", "1e-9"], "more than 2,000"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--low", "0.5"], "--low 0.5"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--tolerance", "0.9"], "relative"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--target", "1"], "--target 1.0"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--sampler", "bayes"], "--sampler must be one of"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--workers", "99"], "--workers must be between"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--workers", "-1"], "--workers must be between 0"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--seeds", "0"], "--seeds must be a whole number"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--max-seeds", "0"], "--max-seeds"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--confidence", "1.5"], "--confidence"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--cost", "watts"], "--cost must be one of"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--objective", "bogus"], "--objective must be one of"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--objective", "pareto", "--sampler", "tpe"], "use --sampler grid"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--objective", "pareto", "--targets", "0.5,2"], "every one below 1"),  # one direction
    (["grid", "-b", "resnet18", *TINY_GRID, "--storage", "redis://x"], "--storage 'redis://x'"),
    (["grid", "-b", "resnet18", *TINY_GRID, "--storage", "postgresql://nobody@127.0.0.1:9/none"], "127.0.0.1:9"),
    # expand
    (["expand", "-b", "resnet18", "--preset", "paper", "--phi", "7..1"], "descending"),
    (["expand", "-b", "resnet18", "--preset", "paper", "--phi", "abc"], "cannot read it"),
    (["expand", "-b", "resnet18", "--preset", "paper", "--phi", "0..11"], "|phi| must be <= 10"),
    (["expand", "-b", "resnet18", "--preset", "b9"], "unknown"),
    (["expand", "-b", "resnet18", "--from", "{d}/notrun"], "no best.json"),
    (["expand", "-b", "mobilenetv2", "--alpha", "2", "--beta", "2", "--gamma", "2", "--phi", "10"], "would need about"),
    (["expand", "-b", "resnet18", "--preset", "paper", "--cost", "watts"], "--cost must be one of"),
    # compare
    (["compare", "-b", "mobilenetv2", "--out", "{d}/c", "--target", "2y"], "cannot read '2y'"),
    (["compare", "-b", "mobilenetv2", "--out", "{d}/c", "--methods", "fast:2"], "in (0, 1]"),
    (["compare", "-b", "mobilenetv2", "--out", "{d}/c", "--seeds", "0"], "--seeds must be >= 1"),
    (["compare", "-b", "mobilenetv2", "--out", "{d}/c", "--confidence", "0"], "--confidence"),
    (["compare", "-b", "mobilenetv2", "--out", "{d}/c", "--resolution", "4"], "--resolution must be >= 8"),
    (["compare", "-b", "mobilenetv2", "--out", "{d}/a_file"], "not a folder"),
    # report and dashboard
    (["report", "{d}/nowhere"], "no such directory"),
    (["report", "{d}/notrun"], "no run.json"),
    (["report", "{d}/badrun"], "not valid JSON"),
    (["dashboard", "{d}/notrun"], "no run.json"),
]


@pytest.mark.parametrize("args, fragment", CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_bad_input_is_one_line_and_exit_1(cli, files, args, fragment):
    result = cli(*[a.replace("{d}", str(files)) for a in args])
    one_line_error(result, fragment)
    assert not list(files.rglob("*.tmp")) and not list(files.rglob(".*.tmp"))


@pytest.mark.slow
def test_a_run_directory_belongs_to_one_run(cli, plumbing, tmp_path):
    out = tmp_path / "run"
    assert cli("grid", "-b", "resnet18", *TINY_GRID, "--workers", "1", "--out", out).exit_code == 0
    before = (out / "best.json").read_text()
    one_line_error(cli("grid", "-b", "mobilenetv1", *TINY_GRID, "--out", out), "choose another --out")
    one_line_error(cli("expand", "-b", "resnet18", "--preset", "paper", "--phi", "0", "--out", out),
                   "holds a grid run")
    assert (out / "best.json").read_text() == before
    one_line_error(cli("expand", "-b", "mobilenetv1", "--from", out, "--phi", "0,1", "--out", tmp_path / "e"),
                   "is a grid of 'resnet18', not 'mobilenetv1'")
    assert cli("expand", "-b", "mobilenetv1", "--from", out, "--phi", "0", "--force-coefficients",
               "--out", tmp_path / "e2").exit_code == 0


def test_train_resume_refuses_other_data_and_zero_test_images_say_so(cli, tmp_path):
    out = tmp_path / "run"
    first = cli("train", "-b", "resnet18", *TINY_TRAIN, "--out", out)
    assert first.exit_code == 0, first.output
    other = "synthetic" if DATA == "fashion-mnist" else "fashion-mnist"
    args = [a if a != DATA else other for a in TINY_TRAIN]
    one_line_error(cli("train", "-b", "resnet18", *args, "--out", out, "--resume"), "different configuration (data")
    none = cli("train", "-b", "resnet18", *TINY_TRAIN, "--test-images", "0")
    assert none.exit_code == 0 and "not measured (no test images)" in none.stdout and "0.00%" not in none.stdout


def test_a_bug_is_one_line_with_a_saved_traceback_and_exit_2(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("SCALESEARCH_CACHE", str(tmp_path))
    import scalesearch.costs.profile as profile

    monkeypatch.setattr(profile, "macs_by_part", lambda spec: 1 / 0)
    result = cli("profile", "-b", "resnet18", "--per-stage")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "internal error (a bug in scalesearch" in result.stderr and "ZeroDivisionError" in result.stderr
    saved = list(tmp_path.glob("scalesearch-crash-*.txt"))
    assert saved and "ZeroDivisionError" in saved[0].read_text()


def test_a_torn_units_file_keeps_every_complete_unit(tmp_path):
    from scalesearch.runs.compare_units import append_unit, read_units

    append_unit(tmp_path, {"key": "a/seed0", "v": 1})
    with open(tmp_path / "units.jsonl", "a") as handle:
        handle.write('{"key": "b/se')  # killed mid-write
    append_unit(tmp_path, {"key": "c/seed0", "v": 3})
    assert set(read_units(tmp_path)) == {"a/seed0", "c/seed0"}
    assert (tmp_path / "units.jsonl.torn").read_text().startswith('{"key": "b/se')


@pytest.mark.slow
def test_a_torn_journal_is_repaired_and_the_rerun_retrains_nothing(cli, tmp_path):
    out = tmp_path / "run"
    args = ("grid", "-b", "resnet18", *TINY_GRID, "--workers", "1", "--out", out, "--format", "json")
    assert cli(*args).exit_code == 0
    journal = out / "study.journal"
    journal.write_bytes(journal.read_bytes()[:-50])  # as `head -c -50` would
    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert "set aside in study.journal.torn" in again.stderr and ": ok val " not in again.stderr  # nothing trained
    assert (out / "study.journal.torn").is_file() and json.loads(again.stdout)["complete"]
    third = cli(*args)  # and the study stays readable
    assert third.exit_code == 0 and ": ok val " not in third.stderr


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_die_with_their_parent(tmp_path, sig):
    out = tmp_path / "run"
    args = [sys.executable, "-m", "scalesearch", "grid", "-b", "resnet18", *TINY_GRID, "--train-images", "1024",
            "--epochs", "3", "--workers", "2", "--threads", "1", "--out", str(out)]
    parent = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline, workers = time.time() + 300, []
    while time.time() < deadline and len(workers) < 2:
        time.sleep(0.5)
        workers = [p for p in _children(parent.pid) if "scalesearch" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
                   or "multiprocessing" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")]
    assert len(workers) >= 2, "the workers never started"
    time.sleep(5)  # let them train
    parent.send_signal(sig)
    _, err = parent.communicate(timeout=60)
    time.sleep(10)
    assert not [p for p in workers if _alive(p)], "a worker outlived its parent"
    if sig == signal.SIGTERM:
        assert parent.returncode == 130, err
        assert (out / "trials.csv").is_file() and "run the same command to resume" in err


@pytest.mark.slow
def test_a_full_disk_is_one_line_and_leaves_no_temporary_file(cli, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(disk)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (disk / "filler").write_bytes(b"x" * 40_000)
        result = cli("expand", "-b", "resnet18", "--preset", "paper", "--phi", "0..3", "--out", disk / "run")
        one_line_error(result, "MB free, a expand run's results and report needs about 16 MB")
        assert not (disk / "run").exists()  # refused before anything was written
    finally:
        subprocess.run(["umount", str(disk)])


def test_a_disk_that_fills_up_mid_write_is_one_line_and_leaves_no_temporary_file(cli, tmp_path, monkeypatch):
    import errno

    import scalesearch.files as files

    real = files.os.fdopen

    def full(fd, mode="r", *args, **kwargs):
        handle = real(fd, mode, *args, **kwargs)
        if "w" in mode and "family" in os.readlink(f"/proc/self/fd/{fd}"):
            def write(data):
                raise OSError(errno.ENOSPC, "No space left on device", "family.json")
            handle.write = write
        return handle

    monkeypatch.setattr(files.os, "fdopen", full)
    out = tmp_path / "run"
    one_line_error(cli("expand", "-b", "resnet18", "--preset", "paper", "--phi", "0,1", "--out", out),
                   "cannot write family.json: No space left on device")
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]


@pytest.mark.slow
def test_a_corrupt_imagefolder_cache_is_rebuilt(tmp_path):
    from PIL import Image

    from scalesearch.training import data as data_module

    for split in ("train", "val"):
        for label in ("a", "b"):
            (tmp_path / split / label).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (20, 20), (40 * i, 100 if label == "a" else 200, 0)).save(tmp_path / split / label / f"{i}.png")
    first = data_module._read_imagefolder(tmp_path, 16)
    caches = list((tmp_path / ".scalesearch-cache").glob("*.pt"))
    caches[0].write_bytes(b"torn")
    again = data_module._read_imagefolder(tmp_path, 16)
    assert again[0].shape == first[0].shape and len(list((tmp_path / ".scalesearch-cache").glob("*.pt"))) == 1


# -- reliability (issue 30): nothing from a run directory runs code ---------------------------

class _Planted:
    """A pickle payload that would create a file when unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_checkpoint_is_refused_and_nothing_in_it_runs(cli, tmp_path):
    import torch

    out, marker = tmp_path / "run", tmp_path / "pwned"
    assert cli("train", "-b", "resnet18", *TINY_TRAIN, "--out", out).exit_code == 0
    torch.save({"model": _Planted(marker), "epoch": 1}, out / "checkpoint.pt")
    one_line_error(cli("train", "-b", "resnet18", *TINY_TRAIN, "--out", out, "--resume"),
                   "holds more than tensors and plain data")
    assert not marker.exists()


def test_a_planted_cifar10_batch_is_refused_and_nothing_in_it_runs(cli, tmp_path):
    import pickle

    import numpy

    folder, marker = tmp_path / "cifar", tmp_path / "pwned"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": numpy.zeros((2, 3072), dtype=numpy.uint8), b"labels": [0, 1]}
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": _Planted(marker), b"labels": [0]}))
    args = [a for a in TINY_TRAIN if a != DATA]
    args[args.index("--data") + 1:args.index("--data") + 1] = ["cifar10", "--data-dir", str(folder)]
    one_line_error(cli("train", "-b", "resnet18", *args), "which a CIFAR-10 batch does not hold")
    assert not marker.exists()


# -- reliability: a refused command leaves its run directory free ------------------------------

def test_a_refused_transfer_claims_nothing_and_the_corrected_one_runs(cli, tmp_path, monkeypatch):
    from scalesearch import transfer
    from scalesearch.spec.spaces import load_space
    from tests.test_cli_transfer import fake_train
    from tests.test_compare import TINY
    from tests.test_transfer import write_grid
    from tests.tiny import write_space

    monkeypatch.setattr(transfer, "train_unit", fake_train)
    monkeypatch.setattr(transfer, "estimates", lambda setup, todo: {})
    grid = write_grid(tmp_path / "grid", load_space(str(write_space(tmp_path, TINY))))
    out = tmp_path / "t"
    started = time.monotonic()
    refused = cli("transfer", "--from", grid, "--phi", "100", "--out", out, "--device", "cpu")
    one_line_error(refused, "raise --max-memory")  # an option transfer accepts
    assert time.monotonic() - started < 30 and not (out / "run.json").exists()
    assert "--max-memory" in cli("transfer", "--help").output
    fixed = cli("transfer", "--from", grid, "--phi", "2", "--top", "2", "--out", out, "--device", "cpu")
    assert fixed.exit_code == 0, fixed.output


def test_a_failed_start_may_be_reused_but_not_a_finished_or_live_run(tmp_path):
    from scalesearch.runs.locks import release_runs
    from scalesearch.runs.run_dir import RunInfo, claim_run_dir, finish_run

    def info(kind: str) -> RunInfo:
        return RunInfo(kind=kind, baseline="x", space="y", request={}, results="r.json")

    claim_run_dir(tmp_path / "a", info("expand"))
    with pytest.raises(ValueError, match="choose another"):  # still live: this process holds it
        claim_run_dir(tmp_path / "a", info("compare"))
    release_runs()  # the first command ended without a result: a failed start
    assert claim_run_dir(tmp_path / "a", info("compare")).kind == "compare"
    finish_run(tmp_path / "a", info("compare"))
    with pytest.raises(ValueError, match="holds a compare run"):
        claim_run_dir(tmp_path / "a", info("expand"))
    release_runs()


# -- reliability: one memory guard on every path that builds or runs a network ------------------

HUGE_MEMBER = """
network:
  name: tiny
  resolution: {px}
  activation: silu
  stem: {{channels: 8, kernel: 3, stride: 2}}
  stages: [mb_r{repeats}_k3_s1_e2_c8_se0.25, mb_r1_k3_s2_e2_c16_se0.25]
  head: {{channels: 32}}
"""


@pytest.mark.parametrize("px, repeats", [(100000, 1), (64, 200000)])
def test_export_of_a_huge_member_is_refused_fast(cli, tmp_path, px, repeats):
    member = tmp_path / "member.yaml"
    member.write_text(HUGE_MEMBER.format(px=px, repeats=repeats))
    started = time.monotonic()
    one_line_error(cli("export", member, "--out", tmp_path / "x", "--max-memory", "2"), "would need about")
    assert time.monotonic() - started < 20 and not (tmp_path / "x").exists()


def test_profile_latency_is_guarded_at_its_batch(cli):
    one_line_error(cli("profile", "-b", "resnet18", "--latency", "--latency-batch", "100000", "--max-memory", "2"),
                   "batch 100000")


def test_the_api_is_guarded(monkeypatch):
    import scalesearch

    monkeypatch.setenv("SCALESEARCH_MAX_MEMORY", "2")
    started = time.monotonic()
    with pytest.raises(scalesearch.UserError, match="would need about"):
        scalesearch.build_model("efficientnet-b0", phi=100, alpha=1.2, beta=1.1, gamma=1.15)
    assert time.monotonic() - started < 20


# -- reliability: SIGTERM and SIGINT end every command alike ------------------------------------

def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scalesearch", *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parent.parent)


def _wait_for(condition, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "the command never got there"
        time.sleep(0.05)


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".tmp" in p.name]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_ends_export_with_130_the_hint_and_no_temporary_file(cli, tmp_path, sig):
    from tests.tiny import tiny_family

    family = tiny_family(cli, tmp_path, "0..6")
    out = tmp_path / "exported"
    export = _start("export", family, "--out", out)
    _wait_for(lambda: out.is_dir() and any(out.glob("*.pt2")))
    export.send_signal(sig)
    _, err = export.communicate(timeout=120)
    assert export.returncode == 130, err
    assert "run the same command to resume" in err and "Traceback" not in err
    assert not _temporaries(out)


@pytest.mark.slow
def test_a_signal_ends_train_with_130_and_keeps_its_checkpoint(tmp_path):
    out = tmp_path / "run"
    args = ["train", "-b", "resnet18", *TINY_TRAIN, "--epochs", "40", "--out", out]
    train = _start(*args)
    _wait_for(lambda: (out / "checkpoint.pt").is_file())
    train.send_signal(signal.SIGTERM)
    _, err = train.communicate(timeout=120)
    assert train.returncode == 130, err
    assert "run the same command to resume" in err and "Traceback" not in err
    assert not _temporaries(out) and (out / "checkpoint.pt").is_file()


def test_a_killed_writers_temporary_files_are_removed_by_the_next_run(cli, tmp_path):
    from tests.tiny import tiny_family

    family = tiny_family(cli, tmp_path, "0")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    out = tmp_path / "exported"
    out.mkdir()
    stale = out / f".family-phi0.pt2.{dead}-x1y2.tmp.pt2"  # what a SIGKILL mid-write leaves
    live = out / f".other.pt2.{os.getpid()}-a1b2.tmp.pt2"  # a live writer's: not touched
    stale.touch(), live.touch()
    result = cli("export", family, "--out", out, "--format", "state-dict")
    assert result.exit_code == 0, result.output
    assert not stale.exists() and live.exists()
    (family / stale.name).touch()
    assert cli("expand", "-b", write_tiny(tmp_path), "--phi", "0,1", "--alpha", "1.2", "--beta", "1.1",
               "--gamma", "1.15", "--out", family).exit_code == 0
    assert not (family / stale.name).exists()


def write_tiny(directory: Path) -> Path:
    from tests.tiny import TINY_SPACE, write_space

    return write_space(directory, TINY_SPACE)


# -- reliability: the Python API refuses bad arguments, naming them --------------------------------

@pytest.mark.parametrize("kwargs, error, name", [
    ({"width": "2"}, TypeError, "width"),
    ({"depth": None, "phi": "1"}, TypeError, "phi"),
    ({"width": float("nan")}, ValueError, "width"),
    ({"seed": "x"}, TypeError, "seed"),
    ({"seed": -1}, ValueError, "seed"),
    ({"num_classes": 2.5}, TypeError, "num_classes"),
    ({"num_classes": 0}, ValueError, "num_classes"),
    ({"in_channels": "3"}, TypeError, "in_channels"),
    ({"resolution": 32.7}, TypeError, "resolution"),
    ({"resolution": True}, TypeError, "resolution"),
    ({"weights": 3}, TypeError, "weights"),
])
def test_the_api_refuses_bad_arguments_naming_them(kwargs, error, name):
    import scalesearch

    with pytest.raises(error, match=rf"^{name} must"):
        scalesearch.build_model("resnet18", **kwargs)


def test_the_api_keeps_good_arguments_as_given():
    import scalesearch

    model = scalesearch.build_model("resnet18", width=0.5, resolution=32, num_classes=3, in_channels=1, seed=0)
    assert model.resolution == 32 == model.spec.resolution and model.classifier.out_features == 3


# -- reliability: concurrency and ownership -----------------------------------------------------

def test_two_processes_on_one_directory_share_the_units(tmp_path):
    import threading
    from dataclasses import dataclass

    from scalesearch.runs.compare_units import read_units, train_units, unit_key

    @dataclass(frozen=True)
    class Unit:
        key: str

    todo = [(Unit(f"u{i}"), k) for k in range(2) for i in range(4)]
    trained: list[tuple[str, str]] = []

    class Quiet:
        def unit_started(self, item, k): ...

        def unit_done(self, item, k, record): ...

    def worker(name: str) -> None:
        def train_one(item, k):
            time.sleep(0.1)
            trained.append((name, unit_key(item.key, k)))
            return {"key": unit_key(item.key, k)}

        train_units(tmp_path, todo, train_one, Quiet())  # each opens its own claims: as two processes do

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    keys = [key for _, key in trained]
    assert sorted(keys) == sorted(set(keys)) and len(keys) == len(todo)  # every unit once
    assert {name for name, _ in trained} == {"a", "b"}  # and both did some
    assert set(read_units(tmp_path)) == set(keys)


def test_report_on_a_running_run_says_it_is_running(cli, tmp_path):
    from scalesearch.runs.locks import release_runs
    from scalesearch.runs.run_dir import RunInfo, claim_run_dir

    run = tmp_path / "grid"
    claim_run_dir(run, RunInfo(kind="grid", baseline="resnet18", space="x", request={}, results="best.json"))
    release_runs()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from scalesearch.runs.locks import hold_run; "
                               "hold_run(sys.argv[1]); print('held', flush=True); time.sleep(60)", str(run)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        one_line_error(cli("report", run), "is still running")
    finally:
        holder.kill()
        holder.wait()
    result = cli("report", run)
    assert result.exit_code == 1 and "still running" not in result.stderr  # no longer running: cut short


def test_duplicate_pareto_targets_are_merged():
    from scalesearch.grid import GridRequest, prepare
    from scalesearch.requests import Placement

    setup = prepare(GridRequest(baseline="resnet18", objective="pareto", sampler="grid", targets="2,2x,2.0,3",
                                placement=Placement(device="cpu"), step=0.4))
    assert tuple(setup.config.grid.targets) == (2.0, 3.0)


def test_export_writes_only_into_an_export_of_the_same_source(cli, tmp_path):
    from tests.tiny import tiny_family

    family = tiny_family(cli, tmp_path, "0")
    before = sorted(p.name for p in family.iterdir())
    one_line_error(cli("export", family, "--out", family, "--format", "state-dict"), "read from")
    assert sorted(p.name for p in family.iterdir()) == before
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    one_line_error(cli("export", family, "--out", foreign, "--format", "state-dict"), "not an export of")
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]
    out = tmp_path / "exported"
    for _ in range(2):  # its own export folder: rewritten in place
        assert cli("export", family, "--out", out, "--format", "state-dict").exit_code == 0
    member = family / next(p.name for p in family.glob("*.yaml"))
    one_line_error(cli("export", member, "--out", out, "--format", "state-dict"), "holds an export of")


def test_a_refused_expand_claims_nothing(cli, tmp_path):
    out = tmp_path / "e"
    one_line_error(cli("expand", "-b", "mobilenetv2", "--alpha", "2", "--beta", "2", "--gamma", "2", "--phi", "10",
                       "--out", out), "would need about")
    assert not (out / "run.json").exists()


def test_a_train_refused_for_its_data_claims_nothing(cli, tmp_path):
    empty, out = tmp_path / "empty", tmp_path / "run"
    empty.mkdir()
    args = [a for a in TINY_TRAIN if a != DATA]
    args[args.index("--data") + 1:args.index("--data") + 1] = ["cifar10", "--data-dir", str(empty)]
    one_line_error(cli("train", "-b", "resnet18", *args, "--out", out), "lacks data_batch_1")
    assert not (out / "run.json").exists()
    assert cli("train", "-b", "resnet18", *TINY_TRAIN, "--out", out).exit_code == 0


def test_messages_name_only_options_the_command_accepts(cli, monkeypatch, tmp_path):
    from scalesearch.cli import transfer as transfer_cli
    from scalesearch.errors import UserError

    def refuse(request, events=None):
        raise UserError("{data_dir} lacks a file; lower {epochs} or raise {max_memory}")

    monkeypatch.setattr(transfer_cli, "run_transfer", refuse)
    one_line_error(cli("transfer", "--from", tmp_path, "--out", tmp_path / "t"),  # transfer takes no --epochs
                   "--data-dir lacks a file; lower epochs or raise --max-memory")


@pytest.mark.slow
@pytest.mark.parametrize("late", ["raise KeyboardInterrupt('a late signal')", "raise SystemExit(130)"])
def test_an_interrupted_program_exits_130_whatever_reaches_the_top(late):
    """A KeyboardInterrupt that escapes the typer app (a signal landing while click turns the
    command's exit into SystemExit) must not reach the top, where CPython ends the process
    by SIGINT (-2, seen once in the suite for a signalled export); nor may one land in the
    interpreter's shutdown after an exit 130: the program leaves with 130 at once."""
    code = ("import sys, scalesearch.cli as cli\n"
            "def app():\n"
            "    print('interrupted: run the same command to resume', file=sys.stderr)\n"
            f"    {late}\n"
            "cli.app = app\n"
            "import atexit, os, signal\n"
            "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))  # a signal during shutdown\n"
            "cli.main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 130, done.stderr
    assert "run the same command to resume" in done.stderr and "Traceback" not in done.stderr
