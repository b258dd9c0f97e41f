"""The public Python API: what `import scalesearch` offers, equal to the CLI's numbers,
and the README's example, run as written."""

import json
import re
import subprocess
import sys

import pytest
import torch

import scalesearch
from tests.conftest import REPO
from tests.tiny import tiny_family

# The README section that holds the API example.  Until it is merged into README.md it
# lives in README-api-section.md; repoint this one constant when it moves.
README_WITH_API = REPO / "README.md"


def readme_api_example(path=README_WITH_API) -> str:
    """The first ```python block after the "Use a family in your own code" heading."""
    text = path.read_text()
    section = text[text.index("Use a family in your own code"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_import_is_cheap_and_says_its_version():
    code = "import sys, scalesearch; print(scalesearch.__version__, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.split() == [scalesearch.__version__, "False"]


def test_every_name_in_all_resolves():
    for name in scalesearch.__all__:
        assert getattr(scalesearch, name) is not None, name
    assert callable(scalesearch.measure) and scalesearch.costs.cost.Cost is scalesearch.Cost
    assert scalesearch.measure is scalesearch.costs.of.measure  # a plain function: no module made callable
    with pytest.raises(AttributeError):
        scalesearch.no_such_thing


def test_build_model_of_b0_has_profiles_params_and_flops(cli):
    model = scalesearch.build_model("efficientnet-b0")
    assert model.spec.name == "efficientnet-b0" and model.resolution == 224
    cost = scalesearch.measure(model)
    profiled = json.loads(cli("profile", "-b", "efficientnet-b0", "--format", "json").stdout)
    assert (cost.params, cost.flops, cost.activations) == (profiled["params"], profiled["flops"],
                                                           profiled["activations"])
    assert scalesearch.measure(model.spec) == cost


def test_build_model_of_a_member_yaml_has_profiles_and_the_familys_numbers(cli, tmp_path):
    out = tiny_family(cli, tmp_path)
    family = scalesearch.read_family(out)
    for row in family.table.to_dict("records"):
        model = scalesearch.build_model(row["spec_file"])
        profiled = json.loads(cli("profile", "-b", row["spec_file"], "--format", "json").stdout)
        cost = scalesearch.measure(model)
        assert (cost.params, cost.flops, model.resolution) == (profiled["params"], profiled["flops"],
                                                               profiled["resolution"])
        assert (cost.params, cost.flops) == (row["params"], row["flops"])
    assert family.summary["coefficients"] == {"alpha": 1.2, "beta": 1.1, "gamma": 1.15}


def test_phi_with_coefficients_is_profiles_phi(cli):
    model = scalesearch.build_model("resnet18", phi=1, alpha=1.2, beta=1.1, gamma=1.15)
    profiled = json.loads(cli("profile", "-b", "resnet18", "--phi", "1", "--alpha", "1.2", "--beta", "1.1",
                              "--gamma", "1.15", "--format", "json").stdout)
    assert (scalesearch.measure(model).flops, model.resolution) == (profiled["flops"], profiled["resolution"])


def test_shape_arguments_and_seed():
    a = scalesearch.build_model("resnet18", width=0.5, resolution=96, num_classes=10, in_channels=1, seed=3)
    b = scalesearch.build_model("resnet18", width=0.5, resolution=96, num_classes=10, in_channels=1, seed=3)
    assert a.resolution == 96 and a.classifier.out_features == 10
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert a(torch.zeros(2, 1, 96, 96)).shape == (2, 10)


def test_bad_arguments_are_user_errors():
    with pytest.raises(scalesearch.UserError):
        scalesearch.build_model("resnet18", phi=1)  # phi without alpha, beta, gamma
    with pytest.raises(scalesearch.UserError, match="unknown baseline"):
        scalesearch.load_space("resnet19")
    with pytest.raises(scalesearch.UserError, match="resolution"):
        scalesearch.measure(torch.nn.Linear(2, 2))


def test_read_grid_and_read_compare_return_their_tables(tmp_path):
    from scalesearch.files import write_atomic, write_json

    grid, compare = tmp_path / "grid", tmp_path / "compare"
    write_json(grid / "run.json", {"kind": "grid", "baseline": "resnet18"})
    write_atomic(grid / "points.csv", "point,alpha,beta,gamma,mean\na,1.2,1.1,1.15,0.8\nb,2.0,1.0,1.0,0.7\n")
    write_json(grid / "best.json", {"best": {"alpha": 1.2}})
    result = scalesearch.read_grid(grid)
    assert result.kind == "grid" and list(result.table["alpha"]) == [1.2, 2.0]
    assert result.summary["best"]["alpha"] == 1.2
    write_json(compare / "run.json", {"kind": "compare", "baseline": "resnet18"})
    write_json(compare / "compare.json", {"kind": "compare", "config": {"target": 2}, "rows": [{"method": "width"}]})
    rows = scalesearch.read_compare(compare)
    assert list(rows.table["method"]) == ["width"] and rows.summary["config"] == {"target": 2}


def test_run_loaders_refuse_the_wrong_kind(cli, tmp_path):
    out = tiny_family(cli, tmp_path)
    with pytest.raises(scalesearch.UserError, match="holds a expand run, not a grid run"):
        scalesearch.read_grid(out)
    with pytest.raises(scalesearch.UserError, match="run.json"):
        scalesearch.read_compare(tmp_path)


@pytest.mark.parametrize("module", ["scalesearch.api", "scalesearch.costs.of"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    failures, tried = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failures == 0


def test_the_readme_api_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(readme_api_example(), str(README_WITH_API), "exec"), {})
