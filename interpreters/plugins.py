"""Python interpreter plugins, discovered through the `statusagg.interpreters` entry points."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, cast, runtime_checkable

from .errors import InterpreterError
from .jsonutil import clone
from .model import Hooks, Item, JSONObject, Operation

ENTRY_POINT_GROUP = "statusagg.interpreters"


@runtime_checkable
class InterpreterPlugin(Protocol):
    """A Python interpreter for one (apiVersion, kind).

    `operations` declares which of `aggregate`, `reflect` and `health` the plugin
    offers; only those are ever called, so the others may raise NotImplementedError.
    Hooks receive deep copies and must return JSON-shaped data (integers as int).
    Raise InterpreterError with a message for the user on bad input.
    """

    @property
    def api_version(self) -> str:
        """The apiVersion handled, e.g. `example.io/v1`."""
        ...

    @property
    def kind(self) -> str:
        """The kind handled, e.g. `Widget`."""
        ...

    @property
    def operations(self) -> Collection[Operation]:
        """The operations offered."""
        ...

    def aggregate(self, template: JSONObject, items: Sequence[Item]) -> JSONObject:
        """The template with its aggregated `.status` (items sorted by clusterName)."""
        ...

    def reflect(self, obj: JSONObject) -> JSONObject | None:
        """The status a member object reports, or None."""
        ...

    def health(self, obj: JSONObject) -> bool:
        """Whether a member object is healthy."""
        ...


def discover_plugins() -> list[tuple[str, InterpreterPlugin]]:
    """Installed plugins as (description, plugin), sorted by entry point name.

    An entry point may name a plugin object or a class, which is instantiated
    without arguments. A plugin that fails to load is an InterpreterError.
    """
    found = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        where = f"plugin {entry_point.name!r} ({entry_point.value})"
        try:
            loaded = entry_point.load()
            plugin = loaded() if isinstance(loaded, type) else loaded
        except Exception as error:
            raise InterpreterError(f"{where} failed to load: {error!r}") from error
        found.append((where, check_plugin(plugin, where)))
    return found


def check_plugin(plugin: Any, where: str) -> InterpreterPlugin:
    """Validate that an object implements InterpreterPlugin for the operations it declares."""
    api_version = getattr(plugin, "api_version", None)
    kind = getattr(plugin, "kind", None)
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        raise InterpreterError(f"{where}: api_version and kind must be non-empty strings")
    operations = getattr(plugin, "operations", None)
    if not isinstance(operations, Iterable) or isinstance(operations, str):
        raise InterpreterError(f"{where}: operations must be a collection of Operation values")
    for operation in operations:
        if operation not in tuple(Operation):
            raise InterpreterError(f"{where}: unknown operation {operation!r}")
        if not callable(getattr(plugin, str(operation), None)):
            raise InterpreterError(f"{where}: declares {operation} but has no {operation}() method")
    return cast(InterpreterPlugin, plugin)


def plugin_hooks(plugin: InterpreterPlugin, where: str) -> Hooks:
    """Registry hooks for the plugin's operations: inputs copied, results and errors checked."""
    operations = {Operation(operation) for operation in plugin.operations}

    def call(operation: Operation, function: Callable[..., Any], *args: Any) -> Any:
        try:
            return function(*args)
        except InterpreterError as error:
            raise InterpreterError(f"{where}: {error}") from error
        except Exception as error:
            raise InterpreterError(f"{where}: {operation} failed: {error!r}") from error

    def aggregate(template: JSONObject, items: Sequence[Item]) -> JSONObject:
        copies = [{key: clone(value) for key, value in item.items()} for item in items]
        result = call(Operation.AGGREGATE, plugin.aggregate, clone(template), copies)
        if not isinstance(result, dict):
            raise InterpreterError(f"{where}: aggregate returned {_type(result)}, not an object")
        return result

    def reflect(obj: JSONObject) -> JSONObject | None:
        result = call(Operation.REFLECT, plugin.reflect, clone(obj))
        if result is not None and not isinstance(result, dict):
            raise InterpreterError(f"{where}: reflect returned {_type(result)}, not an object")
        return result

    def health(obj: JSONObject) -> bool:
        result = call(Operation.HEALTH, plugin.health, clone(obj))
        if not isinstance(result, bool):
            raise InterpreterError(f"{where}: health returned {_type(result)}, not a bool")
        return result

    return Hooks(
        aggregate=aggregate if Operation.AGGREGATE in operations else None,
        reflect=reflect if Operation.REFLECT in operations else None,
        health=health if Operation.HEALTH in operations else None,
    )


def _type(value: Any) -> str:
    return "None" if value is None else type(value).__name__
