"""Registry: precedence of layers, plugins, input checks and description."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from interpreters import (
    ENTRY_POINT_GROUP,
    InterpreterError,
    InterpreterPlugin,
    Layer,
    Operation,
    UnknownKindError,
    build_registry,
)
from interpreters import plugins as plugins_module


@dataclass
class RecordingPlugin:
    """A Deployment plugin that offers aggregate and health and records what it saw."""

    api_version: str = "apps/v1"
    kind: str = "Deployment"
    operations: tuple[Operation, ...] = (Operation.AGGREGATE, Operation.HEALTH)
    seen: list[Any] = field(default_factory=list)

    def aggregate(self, template, items):
        self.seen.append([item["clusterName"] for item in items])
        if items:
            items[0]["status"]["mutated"] = True
        template["status"] = {"plugin": len(items)}
        return template

    def reflect(self, obj):
        raise NotImplementedError

    def health(self, obj):
        return obj["metadata"]["name"] == "healthy"


def deployment(name="demo"):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "generation": 1},
    }


def test_plugin_satisfies_protocol():
    assert isinstance(RecordingPlugin(), InterpreterPlugin)


def test_plugin_overrides_builtin_per_operation():
    plugin = RecordingPlugin()
    registry = build_registry(load_plugins=False, plugins=[plugin])
    items = [{"clusterName": "b", "status": {"replicas": 1}}, {"clusterName": "a", "status": {}}]
    assert registry.aggregate(deployment(), items)["status"] == {"plugin": 2}
    assert plugin.seen == [["a", "b"]]
    assert "mutated" not in items[1]["status"]
    assert registry.health(deployment("healthy")) is True
    assert registry.reflect(deployment()) is None


def test_lua_overrides_plugin_only_for_its_operations(write_ric, ric):
    path = write_ric(
        ric(
            name="deploy-health",
            api_version="apps/v1",
            kind="Deployment",
            healthInterpretation="function InterpretHealth(obj) return false end",
        )
    )
    registry = build_registry([path], load_plugins=False, plugins=[RecordingPlugin()])
    assert registry.health(deployment("healthy")) is False
    assert registry.aggregate(deployment(), [])["status"] == {"plugin": 0}
    layers = {
        row.operation: row.layer
        for row in registry.describe()
        if (row.api_version, row.kind) == ("apps/v1", "Deployment")
    }
    assert layers == {
        Operation.AGGREGATE: Layer.PLUGIN,
        Operation.REFLECT: Layer.BUILTIN,
        Operation.HEALTH: Layer.LUA,
    }


def test_describe_lists_builtins_and_the_reflect_default(registry):
    rows = registry.describe()
    by_operation = {
        op: {(r.api_version, r.kind) for r in rows if r.operation is op} for op in Operation
    }
    assert len(by_operation[Operation.AGGREGATE]) == 13
    assert len(by_operation[Operation.HEALTH]) == 9
    assert len(by_operation[Operation.REFLECT]) == 10
    assert ("*", "*") in by_operation[Operation.REFLECT]
    assert rows == sorted(
        rows, key=lambda r: (r.api_version, r.kind, list(Operation).index(r.operation))
    )


@pytest.mark.parametrize(
    ("op", "api_version", "kind", "expected"),
    [
        (Operation.AGGREGATE, "apps/v1", "Deployment", True),
        (Operation.AGGREGATE, "v1", "ConfigMap", False),
        (Operation.HEALTH, "batch/v1", "Job", False),
        (Operation.HEALTH, "v1", "Pod", True),
        (Operation.REFLECT, "example.io/v1", "Anything", True),
    ],
)
def test_supports(registry, op, api_version, kind, expected):
    assert registry.supports(op, api_version, kind) is expected


class BrokenPlugin(RecordingPlugin):
    def aggregate(self, template, items):
        raise KeyError("replicas")

    def health(self, obj):
        return "yes"


def test_plugin_failures_are_interpreter_errors():
    registry = build_registry(load_plugins=False, plugins=[BrokenPlugin()])
    with pytest.raises(InterpreterError, match="aggregate failed: KeyError"):
        registry.aggregate(deployment(), [])
    with pytest.raises(InterpreterError, match="health returned str, not a bool"):
        registry.health(deployment())


@pytest.mark.parametrize(
    ("plugin", "message"),
    [
        pytest.param(
            RecordingPlugin(kind=""), "api_version and kind must be non-empty", id="no-kind"
        ),
        pytest.param(
            RecordingPlugin(operations=("prune",)), "unknown operation 'prune'", id="bad-op"
        ),
        pytest.param(RecordingPlugin(operations="health"), "must be a collection", id="str-ops"),
    ],
)
def test_invalid_plugins(plugin, message):
    with pytest.raises(InterpreterError, match=message):
        build_registry(load_plugins=False, plugins=[plugin])


class FakeEntryPoint:
    def __init__(self, name, target):
        self.name, self.value, self._target = name, f"fake:{name}", target

    def load(self):
        if isinstance(self._target, Exception):
            raise self._target
        return self._target


def test_entry_points_are_discovered_sorted_and_first_wins(monkeypatch):
    def healthy(obj):
        return True

    first = RecordingPlugin(operations=(Operation.HEALTH,))
    second = RecordingPlugin(operations=(Operation.HEALTH,))
    second.health = lambda obj: False
    first.health = healthy
    entries = [FakeEntryPoint("z-second", second), FakeEntryPoint("a-first", first)]
    monkeypatch.setattr(
        plugins_module, "entry_points", lambda group: entries if group == ENTRY_POINT_GROUP else []
    )
    registry = build_registry()
    assert registry.health(deployment()) is True
    [row] = [
        r for r in registry.describe() if r.kind == "Deployment" and r.operation is Operation.HEALTH
    ]
    assert row.source == "plugin 'a-first' (fake:a-first)"


def test_entry_point_class_is_instantiated(monkeypatch):
    monkeypatch.setattr(
        plugins_module, "entry_points", lambda group: [FakeEntryPoint("cls", RecordingPlugin)]
    )
    assert build_registry().health(deployment("healthy")) is True


def test_broken_entry_point(monkeypatch):
    monkeypatch.setattr(
        plugins_module,
        "entry_points",
        lambda group: [FakeEntryPoint("bad", ImportError("no module x"))],
    )
    with pytest.raises(
        InterpreterError, match="plugin 'bad' \\(fake:bad\\) failed to load: ImportError"
    ):
        build_registry()
    assert build_registry(load_plugins=False).supports(Operation.HEALTH, "v1", "Pod")


class TestInputChecks:
    @pytest.mark.parametrize(
        ("obj", "message"),
        [
            pytest.param([], "must be a JSON object, got list", id="list"),
            pytest.param(
                {"kind": "Deployment"}, "needs string apiVersion and kind", id="no-api-version"
            ),
            pytest.param(
                {"apiVersion": "apps/v1", "kind": 3},
                "needs string apiVersion and kind",
                id="kind-type",
            ),
        ],
    )
    def test_bad_objects(self, registry, obj, message):
        for call in (registry.reflect, registry.health, lambda o: registry.aggregate(o, [])):
            with pytest.raises(InterpreterError, match=message):
                call(obj)

    @pytest.mark.parametrize(
        ("items", "message"),
        [
            pytest.param(["member1"], "item #0: expected an object, got str", id="string-item"),
            pytest.param(
                [{"clusterName": 1}], "item #0: clusterName must be a string", id="cluster-type"
            ),
            pytest.param(
                [{"clusterName": "m", "status": [1]}],
                "item m: status must be an object, got list",
                id="status-list",
            ),
        ],
    )
    def test_bad_items(self, registry, items, message):
        """Items are checked before any interpreter runs."""
        with pytest.raises(InterpreterError, match=message):
            registry.aggregate(deployment(), items)

    def test_missing_cluster_name_reads_as_empty(self, registry):
        items = [{"status": {"replicas": 2}}, {"clusterName": "a", "status": {"replicas": 1}}]
        assert registry.aggregate(deployment(), items)["status"]["replicas"] == 3

    def test_unknown_kind_is_an_interpreter_error(self, registry):
        assert issubclass(UnknownKindError, InterpreterError)
        with pytest.raises(UnknownKindError):
            registry.aggregate({"apiVersion": "v1", "kind": "Secret"}, [])
