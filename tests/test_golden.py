"""The built-in baselines reproduce the published numbers exactly, through the CLI."""

import json

import pytest

from tests.golden import GOLDEN


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_profile_matches_published_counts(cli, name):
    depth, width, resolution, params, flops = GOLDEN[name]
    baseline = "efficientnet-b0" if name.startswith("efficientnet") else name
    result = cli("profile", "--baseline", baseline, "--depth", depth, "--width", width,
                 "--resolution", resolution, "--format", "json")
    assert result.exit_code == 0, result.output
    profile = json.loads(result.stdout)
    assert (profile["params"], profile["flops"]) == (params, flops)
    assert profile["resolution"] == resolution


def test_mobilenetv1_measures_what_the_paper_reports(cli):
    # Howard et al. 2017, Table 1 / section 3: 569 million mult-adds, 4.2 million parameters.
    profile = json.loads(cli("profile", "--baseline", "mobilenetv1", "--format", "json").stdout)
    assert round(profile["flops"] / 1e6) == 569 and round(profile["params"] / 1e6, 1) == 4.2


def test_baselines_lists_every_builtin_with_its_cost(cli):
    result = cli("baselines", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"efficientnet-b0", "resnet18", "resnet50", "mobilenetv1", "mobilenetv2"}
    for name, row in rows.items():
        assert (row["params"], row["flops"]) == GOLDEN[name][3:]
