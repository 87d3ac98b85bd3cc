"""The example plugin, directly and through statusagg's registry."""

from __future__ import annotations

import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from statusagg_example_plugin import WidgetInterpreter

from interpreters import (
    ENTRY_POINT_GROUP,
    InterpreterError,
    InterpreterPlugin,
    Layer,
    Operation,
    build_registry,
)
from interpreters import plugins as plugin_discovery

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"


def widget(**status):
    obj = {
        "apiVersion": "example.statusagg.io/v1alpha1",
        "kind": "Widget",
        "metadata": {
            "name": "w",
            "generation": 2,
            "annotations": {"resourcetemplate.karmada.io/generation": "2"},
        },
        "spec": {"replicas": 2},
    }
    if status:
        obj["status"] = status
    return obj


def member(cluster, phase="Ready", ready=2, generation=2):
    status = {
        "replicas": 2,
        "readyReplicas": ready,
        "phase": phase,
        "generation": generation,
        "observedGeneration": generation,
        "resourceTemplateGeneration": generation,
    }
    return {"clusterName": cluster, "applied": True, "status": status}


class TestDirectly:
    def test_implements_the_protocol(self):
        assert isinstance(WidgetInterpreter(), InterpreterPlugin)

    def test_aggregate(self):
        result = WidgetInterpreter().aggregate(
            widget(observedGeneration=1), [member("a"), member("b", "Pending", 0, 1)]
        )
        assert result["status"] == {
            "observedGeneration": 1,
            "replicas": 4,
            "readyReplicas": 2,
            "phase": "Progressing",
            "clusters": [{"name": "a", "phase": "Ready"}, {"name": "b", "phase": "Pending"}],
        }

    def test_reflect(self):
        reflected = WidgetInterpreter().reflect(
            widget(replicas=2, readyReplicas=1, phase="Pending", observedGeneration=2)
        )
        assert reflected == {
            "replicas": 2,
            "readyReplicas": 1,
            "phase": "Pending",
            "observedGeneration": 2,
            "generation": 2,
            "resourceTemplateGeneration": 2,
        }
        assert WidgetInterpreter().reflect(widget()) is None

    @pytest.mark.parametrize(
        ("phase", "ready", "healthy"),
        [("Ready", 2, True), ("Ready", 1, False), ("Pending", 2, False)],
    )
    def test_health(self, phase, ready, healthy):
        assert WidgetInterpreter().health(widget(phase=phase, readyReplicas=ready)) is healthy


class TestThroughTheRegistry:
    def test_plugin_object(self):
        registry = build_registry(load_plugins=False, plugins=[WidgetInterpreter()])
        template = widget()
        result = registry.aggregate(template, [member("member2"), member("member1")])
        assert result["status"]["phase"] == "Ready"
        assert result["status"]["observedGeneration"] == 2
        assert [c["name"] for c in result["status"]["clusters"]] == ["member1", "member2"]
        assert "status" not in template
        assert registry.health(widget(phase="Ready", readyReplicas=2)) is True

    def test_bad_input_is_an_interpreter_error(self):
        registry = build_registry(load_plugins=False, plugins=[WidgetInterpreter()])
        bad = {"clusterName": "m", "status": {"replicas": "two"}}
        with pytest.raises(InterpreterError, match="replicas: expected an integer"):
            registry.aggregate(widget(), [bad])

    def test_entry_point_declared_in_pyproject(self, monkeypatch):
        declared = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"][
            ENTRY_POINT_GROUP
        ]
        entry_points = [
            EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in declared.items()
        ]
        monkeypatch.setattr(plugin_discovery, "entry_points", lambda group: entry_points)
        registry = build_registry()
        assert registry.supports(Operation.HEALTH, "example.statusagg.io/v1alpha1", "Widget")
        rows = [row for row in registry.describe() if row.kind == "Widget"]
        assert {row.layer for row in rows} == {Layer.PLUGIN}
        assert {str(row.operation) for row in rows} == {"aggregate", "reflect", "health"}
        assert rows[0].source == "plugin 'widget' (statusagg_example_plugin:WidgetInterpreter)"
