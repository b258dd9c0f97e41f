"""NetSpec: block strings, YAML round-trip, validation messages that name the field."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalesearch.spec.spaces import builtin_names, load_space
from scalesearch.spec.netspec import NetSpec, SpecError, StageSpec, load_spec_yaml

stages = st.builds(
    StageSpec,
    block=st.sampled_from(["mb", "ir", "bottleneck"]),
    repeats=st.integers(1, 9),
    channels=st.integers(1, 64).map(lambda c: c * 4),
    kernel=st.sampled_from([1, 3, 5, 7]),
    stride=st.sampled_from([1, 2]),
    expansion=st.sampled_from([1.0, 4.0, 6.0, 2.5]),
    se_ratio=st.sampled_from([0.0, 0.25, 0.5]),
    activation=st.sampled_from([None, "relu", "silu"]),
)


@given(stages)
def test_block_string_round_trips(stage):
    assert StageSpec.parse(stage.encode()) == stage


def test_block_string_reads_the_paper_notation():
    stage = StageSpec.parse("mb_r2_k5_s2_e6_c40_se0.25")
    assert (stage.block, stage.repeats, stage.kernel, stage.stride, stage.expansion,
            stage.channels, stage.se_ratio) == ("mb", 2, 5, 2, 6.0, 40, 0.25)


@pytest.mark.parametrize("text, fragment", [
    ("conv_r1_c8", "unknown kind"), ("mb_k3_c8", "missing repeats"), ("mb_r1_x3_c8", "cannot read"),
    ("mb_r1_kz_c8", "not a number"),
])
def test_bad_block_strings_say_what_is_wrong(text, fragment):
    with pytest.raises(SpecError, match=fragment):
        StageSpec.parse(text)


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_specs_round_trip_through_yaml(tmp_path, name):
    spec = load_space(name).network
    path = tmp_path / "spec.yaml"
    path.write_text(spec.to_yaml())
    assert load_spec_yaml(path) == spec
    assert load_space(str(path)).network == spec


def test_spec_hash_changes_with_any_number():
    spec = load_space("resnet18").network
    assert spec.spec_hash() == NetSpec.from_dict(spec.to_dict()).spec_hash()
    assert spec.spec_hash() != spec.with_shape(num_classes=10).spec_hash()


@pytest.mark.parametrize("change, field", [
    ({"activation": "gelu"}, "activation"),
    ({"dropout": 1.5}, "dropout"),
    ({"resolution": 8}, "resolution"),
    ({"stages": ["mb_r0_k3_s1_c16"]}, "stages[0]"),
    ({"stages": ["mb_r1_k4_s1_c16"]}, "kernel must be odd"),
    ({"stages": ["bottleneck_r1_k3_s1_e4_c30"]}, "multiple of the expansion"),
    ({"stem": {"channels": 0}}, "stem.channels"),
    ({"resolution": "big"}, "'resolution'"),
    ({"colour": "red"}, "unknown field 'colour'"),
])
def test_validation_names_the_offending_field(change, field):
    data = {**load_space("efficientnet-b0").network.to_dict(), **change}
    with pytest.raises(SpecError, match=field.replace("[", r"\[").replace("]", r"\]")):
        NetSpec.from_dict(data, source="my.yaml").validate()
