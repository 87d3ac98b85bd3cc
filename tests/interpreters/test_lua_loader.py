"""Loading and merging ResourceInterpreterCustomization documents."""

from __future__ import annotations

import pytest

from interpreters import CustomizationLoadError, Layer, Operation, build_registry
from interpreters.lua import load_customizations

WIDGET = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}}
HEALTH_TRUE = "function InterpretHealth(obj) return true end"
HEALTH_FALSE = "function InterpretHealth(obj) return false end"
REFLECT = "function ReflectStatus(obj) return {from = 'b'} end"
RIC_HEAD = (
    "kind: ResourceInterpreterCustomization\n"
    "apiVersion: config.karmada.io/v1alpha1\n"
    "metadata: {name: x}\n"
)


def test_merge_sorted_by_name_first_non_empty_script_wins(write_ric, ric):
    path = write_ric(
        ric(name="b-second", healthInterpretation=HEALTH_FALSE, statusReflection=REFLECT),
        ric(name="a-first", healthInterpretation=HEALTH_TRUE),
    )
    [customization] = load_customizations([path])
    assert customization.target == ("example.io/v1", "Widget")
    scripts = customization.scripts
    assert scripts[Operation.HEALTH].customization == "a-first"
    assert scripts[Operation.REFLECT].customization == "b-second"
    assert Operation.AGGREGATE not in scripts
    registry = build_registry([path], load_plugins=False)
    assert registry.health(WIDGET) is True
    assert registry.reflect(WIDGET) == {"from": "b"}


def test_several_files_and_targets(write_ric, ric):
    first = write_ric(ric(healthInterpretation=HEALTH_TRUE))
    second = write_ric(ric(name="gadget", kind="Gadget", healthInterpretation=HEALTH_FALSE))
    targets = {c.target for c in load_customizations([first, second])}
    assert targets == {("example.io/v1", "Widget"), ("example.io/v1", "Gadget")}


def test_directory_skips_other_documents(tmp_path, ric):
    (tmp_path / "nested").mkdir()
    (tmp_path / "nested" / "ric.yml").write_text(ric(healthInterpretation=HEALTH_TRUE))
    (tmp_path / "case.yaml").write_text("name: a test case\noperation: InterpretHealth\n")
    (tmp_path / "notes.txt").write_text("not yaml: [")
    [customization] = load_customizations([tmp_path])
    assert customization.scripts[Operation.HEALTH].path.endswith("ric.yml")


def test_operations_statusagg_does_not_run_are_ignored(write_ric, ric):
    path = write_ric(
        ric(
            retention="this is not lua",
            replicaResource="nor this",
            healthInterpretation=HEALTH_TRUE,
        )
    )
    [customization] = load_customizations([path])
    assert set(customization.scripts) == {Operation.HEALTH}


def test_customization_without_status_scripts_registers_nothing(write_ric, ric):
    path = write_ric(ric(retention="function Retain(a, b) return a end"))
    assert load_customizations([path]) == []


def test_syntax_error_in_a_shadowed_script_is_still_reported(write_ric, ric):
    path = write_ric(
        ric(name="a", healthInterpretation=HEALTH_TRUE),
        ric(name="b", healthInterpretation="function InterpretHealth(obj) return ( end"),
    )
    with pytest.raises(
        CustomizationLoadError, match="'b' healthInterpretation: Lua does not compile"
    ):
        load_customizations([path])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "kind: ConfigMap\napiVersion: v1\n",
            "document 1 is not a ResourceInterpreterCustomization",
            id="other-kind",
        ),
        pytest.param(
            "- a\n- b\n", "document 1 is not a ResourceInterpreterCustomization", id="list"
        ),
        pytest.param(
            RIC_HEAD.replace("v1alpha1", "v1"),
            "apiVersion must be config.karmada.io/v1alpha1",
            id="api-version",
        ),
        pytest.param(
            RIC_HEAD.replace("{name: x}", "{}"),
            "metadata.name is required",
            id="no-name",
        ),
        pytest.param(
            RIC_HEAD + "spec: {target: {kind: W}}\n",
            "spec.target needs apiVersion and kind",
            id="no-target",
        ),
        pytest.param(
            RIC_HEAD
            + "spec: {target: {apiVersion: v1, kind: W}, "
            + "customizations: {healthInterpretation: {luaScript: 3}}}\n",
            "luaScript must be a string",
            id="script-type",
        ),
        pytest.param("a: [\n", "cannot read YAML", id="bad-yaml"),
    ],
)
def test_invalid_files(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CustomizationLoadError, match=message):
        load_customizations([path])


def test_missing_path(tmp_path):
    with pytest.raises(CustomizationLoadError, match="no such file or directory"):
        load_customizations([tmp_path / "absent.yaml"])


def test_describe_names_the_file(write_ric, ric):
    path = write_ric(ric(healthInterpretation=HEALTH_TRUE))
    registry = build_registry([path], load_plugins=False)
    [row] = [row for row in registry.describe() if row.kind == "Widget"]
    assert row.layer is Layer.LUA
    assert row.operation is Operation.HEALTH
    assert row.source == f"{path} (widget)"
