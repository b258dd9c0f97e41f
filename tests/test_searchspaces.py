"""Baselines from built-in names, user YAML files and Python factories."""

import pytest

from scalesearch.errors import UserError
from scalesearch.spec.spaces import SpaceError, builtin_names, load_space
from scalesearch.spec.netspec import SpecError
from tests.conftest import EXAMPLES


def test_builtins_are_registered_with_defaults():
    assert builtin_names() == ["efficientnet-b0", "mobilenetv1", "mobilenetv2", "resnet18", "resnet50"]
    for name in builtin_names():
        space = load_space(name)
        assert space.network.name == name and space.proxy["resolution"] == 32
        assert space.grid["target"] == 2.0


def test_unknown_baseline_lists_the_known_ones():
    with pytest.raises(SpaceError) as info:
        load_space("resnet51")
    assert all(name in str(info.value) for name in builtin_names())


def test_user_yaml_space_loads():
    space = load_space(str(EXAMPLES / "small-mbconv.yaml"))
    assert space.name == "small-mbconv" and space.resolution == 32 and space.kind == "spec"


@pytest.mark.parametrize("text, fragment", [
    ("network: [1, 2", "not valid YAML at line"),
    ("- just\n- a list\n", "expected a mapping"),
    ("network: {name: x, stem: {channels: 8}, stages: [mb_r1_c8], colour: red}", "unknown field 'colour'"),
    ("network: {name: x, stem: {channels: 8}, stages: [mb_r1_c8]}\nproxy: {epochs: -1}", "proxy.epochs"),
    ("network: {name: x, stem: {channels: 8, size: 3}, stages: [mb_r1_c8]}", "unknown key 'size'"),
    ("network: {name: x, stem: {channels: 8}, stages: mb_r1_c8}", "'stages' must be a list"),
])
def test_bad_yaml_names_file_and_field(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_space(str(path))
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_factory_baseline_and_its_resolution(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    space = load_space("plain_cnn:plain_cnn")
    assert space.kind == "factory" and space.resolution == 32


@pytest.mark.parametrize("ref, fragment", [
    ("no_such_module_xyz:factory", "cannot import 'no_such_module_xyz'"),
    ("math:not_there", "no callable 'not_there'"),
    ("missing.yaml", "no such file"),
])
def test_unresolvable_references_are_user_errors(ref, fragment):
    with pytest.raises(UserError, match=fragment):
        load_space(ref)
