"""`scalesearch expand` / `scalesearch report` end to end: files, JSON, round-trips, errors."""

import json

import pytest

from scalesearch.family import EXACT_TOLERANCE
from scalesearch.spec.scaling import PAPER_B0
from tests.test_family import OFFICIAL_PARAMS


def _expand(cli, tmp_path, *args):
    out = tmp_path / "run"
    result = cli("expand", *args, "--out", out, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout), out


def _assert_members_round_trip(cli, payload, out):
    """Profiling each emitted YAML gives the family table's params and FLOPs."""
    for member in payload["members"]:
        result = cli("profile", "--baseline", out / member["spec_file"], "--format", "json")
        assert result.exit_code == 0, result.output
        profiled = json.loads(result.stdout)
        assert (profiled["params"], profiled["flops"], profiled["resolution"]) == (
            member["params"], member["flops"], member["resolution"])


@pytest.mark.slow  # two fvcore traces plus two round-trip profiles: ~10 s idle, ~50 s on a busy box
def test_expand_writes_every_file_and_prints_one_json_document(cli, tmp_path):
    payload, out = _expand(cli, tmp_path, "--baseline", "resnet18", "--phi", "0,1", "--preset", "paper")
    names = {p.name for p in out.iterdir()}
    assert {"run.json", "family.json", "family.csv", "report.md", "report.html", "figures",
            "member-phi0.yaml", "member-phi1.yaml"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    for member in payload["members"]:
        assert {"phi", "depth", "width", "resolution", "params", "flops", "activations",
                "flops_ratio", "nominal_ratio"} <= set(member)
    assert [m["phi"] for m in payload["members"]] == [0, 1]
    assert payload["members"][0]["flops_ratio"] == 1.0
    assert payload["members"][1]["nominal_ratio"] == pytest.approx(PAPER_B0.product)
    assert json.loads((out / "family.json").read_text())["members"] == payload["members"]
    assert json.loads((out / "run.json").read_text())["kind"] == "expand"
    _assert_members_round_trip(cli, payload, out)


def test_report_command_rebuilds_the_same_report(cli, tmp_path):
    payload, out = _expand(cli, tmp_path, "--baseline", "resnet18", "--phi", "0", "--alpha", "1.2",
                           "--beta", "1.1", "--gamma", "1.15")
    before = (out / "report.md").read_text()
    (out / "report.md").unlink()
    (out / "report.html").unlink()
    result = cli("report", out, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "expand"
    assert (out / "report.md").read_text() == before and (out / "report.html").is_file()


@pytest.mark.parametrize("args, message", [
    (["--baseline", "resnet18", "--phi", "3..1", "--preset", "paper"], "descending"),
    (["--baseline", "resnet18", "--phi", "1..x", "--preset", "paper"], "cannot read"),
    (["--baseline", "resnet18"], "exactly one coefficient source"),
    (["--baseline", "resnet50", "--preset", "efficientnet-official"], "EfficientNet-B0-shaped"),
    (["--baseline", "resnet18", "--preset", "paper", "--from", "nowhere"], "exactly one"),
])
def test_expand_user_errors_are_one_line(cli, tmp_path, args, message):
    result = cli("expand", *args, "--out", tmp_path / "x")
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_report_of_a_non_run_directory_is_one_line(cli, tmp_path):
    result = cli("report", tmp_path)
    assert result.exit_code == 1 and "run.json" in result.output


def test_train_flag_adds_accuracy_with_a_stub_trainer(cli, tmp_path, monkeypatch):
    import scalesearch.training.loop as train

    calls = []

    def fake_train_model(model, data, resolution, budget, *, device, **options):
        calls.append((resolution, data.in_channels, budget.epochs))
        return train.TrainResult(val_accuracy=0.5 + 0.1 * len(calls), test_accuracy=0.4, images_per_second=100.0,
                                 epochs=budget.epochs, seconds=0.1)

    monkeypatch.setattr("scalesearch.training.unit.train_model", fake_train_model)  # the one funnel
    payload, out = _expand(cli, tmp_path, "--baseline", "resnet18", "--phi", "0,1", "--preset", "paper",
                           "--train", "--data", "synthetic", "--epochs", "1", "--train-images", "64",
                           "--device", "cpu")
    # The proxy shape: the space's 32 px x r, the data's channels; the deployment numbers are untouched.
    assert [(px, epochs) for px, _, epochs in calls] == [(32, 1), (37, 1)]  # 37 = round(32 x 1.15)
    assert [m["val_accuracy"] for m in payload["members"]] == pytest.approx([0.6, 0.7])
    assert payload["members"][1]["proxy_resolution"] == calls[1][0]
    assert "accuracy-vs-flops.png" in (out / "report.md").read_text()


@pytest.mark.slow
def test_official_preset_reproduces_the_published_family(cli, tmp_path):
    payload, out = _expand(cli, tmp_path, "--baseline", "efficientnet-b0", "--preset", "efficientnet-official")
    assert [m["params"] for m in payload["members"]] == OFFICIAL_PARAMS
    assert payload["members"][-1]["flops"] == 37_745_884_192  # B7, reference.md
    assert (out / "member-phi7.yaml").read_text().count("efficientnet-b7") >= 1


@pytest.mark.slow  # one baseline: the landing is the same code for all (resnet50 took 42 s in CI)
@pytest.mark.parametrize("baseline", ["mobilenetv2"])
def test_exact_flops_lands_every_member_within_three_percent(cli, tmp_path, baseline):
    payload, out = _expand(cli, tmp_path, "--baseline", baseline, "--phi", "0..7", "--preset", "paper",
                           "--exact-flops")
    for member in payload["members"]:
        target = PAPER_B0.product ** member["phi"]
        assert abs(member["flops_ratio"] / target - 1) <= EXACT_TOLERANCE, member
    assert "Exact-FLOP adjustment" in (out / "report.md").read_text()
    _assert_members_round_trip(cli, payload, out)


@pytest.mark.slow  # fvcore on eight members up to 128x MobileNetV2
def test_a_grid_result_grows_twofold_per_phi_measured(cli, tmp_path):
    from scalesearch.files import write_json
    from scalesearch.search.candidates import GridSpec, build_candidates
    from scalesearch.spec.spaces import load_space

    # A grid run's hand-off, from the candidates a default mobilenetv2 grid would train.
    winner = next(c for c in build_candidates(load_space("mobilenetv2"), GridSpec()) if (c.beta, c.gamma) == (1.1, 1.1))
    grid = tmp_path / "grid"
    write_json(grid / "best.json", {"baseline": "mobilenetv2", "alpha": winner.alpha, "beta": winner.beta,
                                    "gamma": winner.gamma, "target": 2.0})
    payload, out = _expand(cli, tmp_path, "--baseline", "mobilenetv2", "--from", grid, "--phi", "0..7")
    for m in payload["members"][1:]:  # fvcore's FLOPs, not the analytic count the landing used
        assert abs(m["flops_ratio"] / 2 ** m["phi"] - 1) <= 0.05, m
        assert abs(m["t"] - m["phi"]) < 0.5 and m["target_ratio"] == 2.0 ** m["phi"]
    first = (out / "report.md").read_text().split("\n\n")[1]
    assert first.startswith("This family grows 2× in cost per step of φ") and "φ = 7 costs" in first


def test_presets_stay_as_published(cli, tmp_path):
    payload, _ = _expand(cli, tmp_path, "--baseline", "resnet18", "--phi", "0,2", "--preset", "paper")
    member = payload["members"][1]
    assert member["t"] is None and member["target_ratio"] == pytest.approx(PAPER_B0.product ** 2)
    assert (member["depth"], member["width"]) == pytest.approx((1.2 ** 2, 1.1 ** 2))


def test_a_member_file_trains_at_its_own_proxy_resolution(cli, tmp_path):
    """`train --baseline member-phi2.yaml` trains the member as `expand --train` would: at
    the baseline's proxy px x r and with the baseline's proxy recipe (a bare NetSpec would
    train at 32 px whatever its r)."""
    from scalesearch.spec.spaces import load_space
    from scalesearch.train import TrainRequest

    payload, out = _expand(cli, tmp_path, "--baseline", "mobilenetv2", "--phi", "0,2", "--preset", "paper")
    base = load_space("mobilenetv2")
    for member in payload["members"]:
        space = TrainRequest(baseline=str(out / member["spec_file"])).space()
        expected = round(base.proxy_resolution * member["resolution"] / base.resolution)
        assert space.proxy_resolution == expected
        assert {k: v for k, v in space.proxy.items() if k != "resolution"} == \
            {k: v for k, v in base.proxy.items() if k != "resolution"}
        assert space.network.resolution == member["resolution"]
    assert space.proxy_resolution > base.proxy_resolution  # phi 2 is larger than the baseline


def test_the_last_line_names_the_picked_point_and_where_it_came_from(cli, tmp_path):
    """The README's main command ends with expand --pick recommended: its last line says
    whose family it is — the recommended contender, not the leader — and where it went."""
    grid = tmp_path / "grid"
    grid.mkdir()
    (grid / "best.json").write_text(json.dumps({
        "baseline": "efficientnet-b0", "alpha": 1.512287, "beta": 1.0, "gamma": 1.15, "target": 2.0,
        "recommended": {"alpha": 1.183432, "beta": 1.0, "gamma": 1.3, "target": 2.0}}))
    out = tmp_path / "family"
    result = cli("expand", "--baseline", "efficientnet-b0", "--from", grid, "--pick", "recommended",
                 "--phi", "0..2", "--out", out)
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("family of alpha=1.18343 beta=1 gamma=1.3 from ") and "(recommended)" in last, last
    assert "φ = 0..2; φ = 2 costs 4." in last and str(out / "family.json") in last
