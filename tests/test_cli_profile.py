"""`scalesearch profile` and the CLI's contract: JSON on stdout only, one-line errors."""

import json

import pytest

from tests.conftest import EXAMPLES


def test_profile_json_has_the_stable_keys(cli):
    result = cli("profile", "-b", "mobilenetv2", "--phi", "1", "--alpha", "1.2", "--beta", "1.1",
                 "--gamma", "1.15", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    for key in ("baseline", "depth", "width", "resolution", "params", "flops", "activations"):
        assert key in data
    assert data["resolution"] == round(224 * 1.15) and data["width"] == pytest.approx(1.1)
    assert data["flops_ratio"] > 1.9  # measured, not assumed: rounding pushes it past 1.92


def test_profile_proxy_shape_and_per_stage(cli):
    result = cli("profile", "-b", "resnet18", "--resolution", "32", "--in-channels", "1",
                 "--num-classes", "10", "--per-stage", "--format", "json")
    data = json.loads(result.stdout)
    assert data["shape"] == "custom" and sum(data["per_stage"].values()) == data["flops"]


def test_profile_table_and_latency(cli):
    result = cli("profile", "-b", "mobilenetv1", "--resolution", "64", "--latency", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert "latency" in result.stdout and "FLOPs" in result.stdout


def test_user_yaml_and_factory_through_the_cli(cli, monkeypatch):
    assert cli("profile", "-b", EXAMPLES / "small-mbconv.yaml").exit_code == 0
    monkeypatch.syspath_prepend(str(EXAMPLES))
    result = cli("profile", "-b", "plain_cnn:plain_cnn", "--width", "2", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["resolution"] == 32


@pytest.mark.parametrize("args, fragment", [
    (["-b", "resnet51"], "known: efficientnet-b0"),
    (["-b", "resnet18", "--width", "0"], "--width must be a positive"),
    (["-b", "resnet18", "--depth", "nan"], "--depth must be a positive"),
    (["-b", "resnet18", "--resolution", "8"], "too small for a total stride of 32; use >= 16"),
    (["-b", "resnet18", "--phi", "1"], "--phi, --alpha, --beta, --gamma go together"),
    (["-b", "no_such_pkg:factory"], "cannot import"),
])
def test_bad_input_is_one_line_and_exit_1(cli, args, fragment):
    result = cli("profile", *args)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0]


def test_bad_yaml_through_the_cli_names_the_file(cli, tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("network: {name: x, stem: {channels: 8}, stages: [mb_r1_c8], depth: 3}")
    result = cli("profile", "-b", path)
    assert result.exit_code == 1 and str(path) in result.stderr and "depth" in result.stderr


def test_every_command_has_help_and_an_example_that_parses(cli):
    """Each command says what it does, and its example is a command line it accepts."""
    import shlex

    import typer

    from scalesearch.cli import app

    group = typer.main.get_command(app)
    names = [c.name for c in app.registered_commands]
    assert {"baselines", "profile", "grid", "expand", "compare", "train", "report"} <= set(names)
    for name in names:
        result = cli(name, "--help")
        assert result.exit_code == 0, name
        summary, _, example = result.stdout.partition("Example:")
        assert len(summary.split("Options")[0].split()) > 8, f"{name}: no description"
        words = shlex.split(example.split("╭")[0])
        assert words[:2] == ["scalesearch", name], f"{name}: example {words[:2]}"
        command = group.get_command(None, name)
        command.make_context(name, words[2:])  # raises on an unknown option or a bad value
