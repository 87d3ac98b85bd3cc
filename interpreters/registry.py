"""The interpreter registry: one lookup table per operation, layers resolved at build time.

Precedence per operation and kind: a user's Lua customization, then an interpreter webhook
(aggregate in the service, reflect and health in agents), then Python plugins (the first by
entry point name), then the built-ins.
Kinds with no reflect hook anywhere report their whole `.status`, as in Karmada.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from .builtin import AGGREGATE, HEALTH, REFLECT, reflect_whole_status
from .errors import InterpreterError, InterpreterUnavailable, UnknownKindError
from .jsonutil import object_label
from .lua import (
    Customization,
    Document,
    LuaInterpreter,
    WorkerPool,
    load_documents,
    merge_documents,
)
from .model import (
    AggregateFn,
    HealthFn,
    HookInfo,
    Hooks,
    Item,
    JSONObject,
    Layer,
    Operation,
    ReflectFn,
    RemoteHook,
    RemoteLayer,
    Target,
)
from .plugins import InterpreterPlugin, check_plugin, discover_plugins, plugin_hooks

logger = logging.getLogger("statusagg.interpreters")

_T = TypeVar("_T")
_ORDER = {operation: index for index, operation in enumerate(Operation)}


@dataclass(frozen=True)
class LuaSettings:
    """Limits of Lua customizations: per call, per Lua state, and worker processes in all."""

    timeout_s: float = 1.0
    memory_mb: int = 64
    workers: int = 2


class Registry:
    """Resolves and runs the aggregate, reflect and health hooks for a kind.

    Hooks are kept per layer; the tables used by calls are resolved from the layers after every
    change, so replacing the Lua layer (live customizations) is one swap.
    """

    def __init__(self, lua: LuaSettings | None = None) -> None:
        self.lua = lua or LuaSettings()
        self.lua_pool: WorkerPool | None = None
        self.documents: list[Document] = []  # customizations read from files
        self._executor: ThreadPoolExecutor | None = None
        self._layers: dict[Layer, dict[tuple[Target, Operation], tuple[Any, str]]] = {
            layer: {} for layer in Layer
        }
        self._aggregate: dict[Target, AggregateFn] = {}
        self._reflect: dict[Target, ReflectFn] = {}
        self._health: dict[Target, HealthFn] = {}
        self._sources: dict[tuple[Target, Operation], tuple[Layer, str]] = {}
        self._webhooks: RemoteLayer | None = None

    def register(self, target: Target, hooks: Hooks, layer: Layer, source: str) -> None:
        """Add a layer's hooks; a hook replaces one of a lower layer, never one of its own layer."""
        table = self._layers[layer]
        for operation, hook in _hooks_of(hooks):
            current = table.get((target, operation))
            if current is not None:
                logger.warning(
                    "%s for %s %s from %s is shadowed by %s", operation, *target, source, current[1]
                )
                continue
            table[(target, operation)] = (hook, source)
        self._resolve()

    def customization_interpreter(self, customization: Customization) -> LuaInterpreter:
        """An interpreter of ``customization`` on this registry's worker pool, its scripts loaded.

        Raises CustomizationLoadError when the scripts do not load."""
        if self.lua_pool is None:
            self.lua_pool = WorkerPool(self.lua.workers)
        return LuaInterpreter(
            customization,
            self.lua_pool,
            timeout_s=self.lua.timeout_s,
            memory_mb=self.lua.memory_mb,
        )

    def set_customizations(self, customizations: Sequence[Customization]) -> None:
        """Make ``customizations`` the whole Lua layer, replacing what it held.

        Raises CustomizationLoadError, leaving the layer as it was, when one does not load."""
        table: dict[tuple[Target, Operation], tuple[Any, str]] = {}
        for customization in customizations:
            interpreter = self.customization_interpreter(customization)
            origins = sorted({script.origin for script in customization.scripts.values()})
            for operation, hook in _hooks_of(interpreter.hooks()):
                table[(customization.target, operation)] = (hook, ", ".join(origins))
        self._layers[Layer.LUA] = table
        self._resolve()

    def set_webhooks(self, webhooks: RemoteLayer | None) -> None:
        """Make ``webhooks`` the whole webhook layer (None: no webhooks)."""
        self._webhooks = webhooks

    def _webhook(self, target: Target, operation: Operation) -> RemoteHook | None:
        """The webhook serving ``operation`` for ``target`` unless a customization does."""
        if self._webhooks is None:
            return None
        source = self._sources.get((target, operation))
        if source is not None and source[0] is Layer.LUA:
            return None
        return self._webhooks.find(target, operation)

    def _resolve(self) -> None:
        tables: dict[Operation, dict[Target, Any]] = {operation: {} for operation in Operation}
        sources: dict[tuple[Target, Operation], tuple[Layer, str]] = {}
        for layer in reversed(Layer):
            for (target, operation), (hook, source) in self._layers[layer].items():
                tables[operation][target] = hook
                sources[(target, operation)] = (layer, source)
        self._aggregate = tables[Operation.AGGREGATE]
        self._reflect = tables[Operation.REFLECT]
        self._health = tables[Operation.HEALTH]
        self._sources = sources

    def supports(self, op: Operation, api_version: str, kind: str) -> bool:
        """Whether `op` has a hook for the kind; reflect always has one."""
        op = Operation(op)
        if op is Operation.REFLECT or self._webhook((api_version, kind), op) is not None:
            return True
        table: Mapping[Target, Any] = self._aggregate if op is Operation.AGGREGATE else self._health
        return (api_version, kind) in table

    def aggregate(
        self, template: dict[str, Any], items: Sequence[Mapping[str, Any]] | None
    ) -> dict[str, Any]:
        """A new object: a copy of the template with the status aggregated from the member items.

        Items use Karmada's AggregatedStatusItem JSON shape and are sorted by clusterName here.
        None (no list at all, as in a Karmada test case without `statusItems`) reaches a Lua
        script as nil and other hooks as no items.
        """
        target = _target(template, Operation.AGGREGATE)
        webhook = self._webhook(target, Operation.AGGREGATE)
        if webhook is not None:
            raise InterpreterUnavailable(
                f"{Operation.AGGREGATE} {object_label(template)}: served by interpreter webhook "
                f"{webhook.source}, which only a running service calls"
            )
        hook = self._aggregate.get(target)
        if hook is None:
            raise UnknownKindError(f"no aggregate interpreter for {target[0]} {target[1]}")
        members = _sorted_items(items or [])
        if items is None and self.runs_out_of_process(Operation.AGGREGATE, *target):
            return _run(Operation.AGGREGATE, template, hook, template, None)
        return _run(Operation.AGGREGATE, template, hook, template, members)

    def runs_out_of_process(self, op: Operation, api_version: str, kind: str) -> bool:
        """Whether the kind's hook runs in a worker process (a call blocks until it answers)."""
        source = self._sources.get(((api_version, kind), Operation(op)))
        return source is not None and source[0] is Layer.LUA

    async def aggregate_async(
        self, template: dict[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """`aggregate` for callers on an event loop: webhooks are awaited, hooks that run out of
        process are awaited from a thread, so a slow script never holds the loop; in-process
        hooks run inline."""
        target = _target(template, Operation.AGGREGATE)
        webhook = self._webhook(target, Operation.AGGREGATE)
        if webhook is not None and webhook.aggregate is not None:
            return await webhook.aggregate(template, _sorted_items(items))
        if not self.runs_out_of_process(Operation.AGGREGATE, *target):
            return self.aggregate(template, items)
        if self._executor is None:
            size = 2 * (self.lua_pool.size if self.lua_pool is not None else 1)
            self._executor = ThreadPoolExecutor(size, thread_name_prefix="interpreter")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.aggregate, template, items)

    def close(self) -> None:
        """Stop the Lua worker processes and the threads that wait for them."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self.lua_pool is not None:
            self.lua_pool.close()

    def reflect(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The status a member object reports (its whole `.status` for kinds without a hook).

        A webhook serving the kind is waited for: call this off the event loop."""
        target = _target(obj, Operation.REFLECT)
        webhook = self._webhook(target, Operation.REFLECT)
        if webhook is not None and webhook.reflect is not None:
            return _run(Operation.REFLECT, obj, webhook.reflect, obj)
        return _run(Operation.REFLECT, obj, self._reflect.get(target, reflect_whole_status), obj)

    def health(self, obj: dict[str, Any]) -> bool | None:
        """Whether a member object is healthy; None when no layer has a health hook for it.

        A webhook serving the kind is waited for: call this off the event loop."""
        target = _target(obj, Operation.HEALTH)
        webhook = self._webhook(target, Operation.HEALTH)
        if webhook is not None and webhook.health is not None:
            return _run(Operation.HEALTH, obj, webhook.health, obj)
        hook = self._health.get(target)
        return None if hook is None else _run(Operation.HEALTH, obj, hook, obj)

    def describe(self) -> list[HookInfo]:
        """Which layer serves each (apiVersion, kind, operation), sorted; ``*`` rows are the
        rules of webhooks that match many kinds."""
        rows = []
        for (target, operation), (layer, source) in self._sources.items():
            webhook = self._webhook(target, operation)
            if webhook is not None:
                layer, source = Layer.WEBHOOK, webhook.source
            rows.append(HookInfo(target[0], target[1], operation, layer, source))
        served = {(row.api_version, row.kind, row.operation) for row in rows}
        if self._webhooks is not None:
            rows += [
                row
                for row in self._webhooks.rules()
                if (row.api_version, row.kind, row.operation) not in served
            ]
        rows.append(HookInfo("*", "*", Operation.REFLECT, Layer.BUILTIN, "whole .status"))
        return sorted(rows, key=lambda row: (row.api_version, row.kind, _ORDER[row.operation]))


def build_registry(
    customizations: Sequence[str | os.PathLike[str]] = (),
    *,
    load_plugins: bool = True,
    plugins: Sequence[InterpreterPlugin] = (),
    lua: LuaSettings = LuaSettings(),
) -> Registry:
    """A registry of built-ins, Python plugins and the given Lua customizations.

    `customizations` are ResourceInterpreterCustomization YAML files or directories.
    `load_plugins` discovers installed entry points; `plugins` adds plugin objects directly.
    Lua scripts run in worker processes (started only when a customization is given) within
    the limits of `lua`.
    Raises CustomizationLoadError for a customization that cannot be loaded.
    """
    registry = Registry(lua)
    registry.documents = load_documents(customizations)
    for target, aggregate in AGGREGATE.items():
        registry.register(target, Hooks(aggregate=aggregate), Layer.BUILTIN, "builtin")
    for target, reflect in REFLECT.items():
        registry.register(target, Hooks(reflect=reflect), Layer.BUILTIN, "builtin")
    for target, health in HEALTH.items():
        registry.register(target, Hooks(health=health), Layer.BUILTIN, "builtin")
    found = discover_plugins() if load_plugins else []
    found += [(f"plugin {type(plugin).__name__}", plugin) for plugin in plugins]
    for where, plugin in found:
        checked = check_plugin(plugin, where)
        registry.register(
            (checked.api_version, checked.kind), plugin_hooks(checked, where), Layer.PLUGIN, where
        )
    try:
        registry.set_customizations(merge_documents(registry.documents))
    except Exception:
        registry.close()
        raise
    return registry


def _hooks_of(hooks: Hooks) -> list[tuple[Operation, Any]]:
    offered = (
        (Operation.AGGREGATE, hooks.aggregate),
        (Operation.REFLECT, hooks.reflect),
        (Operation.HEALTH, hooks.health),
    )
    return [(operation, hook) for operation, hook in offered if hook is not None]


def _target(obj: Any, operation: Operation) -> Target:
    if not isinstance(obj, dict):
        raise InterpreterError(
            f"{operation}: the object must be a JSON object, got {type(obj).__name__}"
        )
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        raise InterpreterError(f"{operation}: the object needs string apiVersion and kind")
    return api_version, kind


def _sorted_items(items: Sequence[Mapping[str, Any]]) -> list[Item]:
    """Validated items sorted by clusterName; a missing clusterName reads as "" as in Go."""
    checked = list(items)
    for index, item in enumerate(checked):
        # type() first: an isinstance check against the Mapping ABC costs several times more
        if type(item) is not dict and not isinstance(item, Mapping):
            raise InterpreterError(f"item #{index}: expected an object, got {type(item).__name__}")
        name = item.get("clusterName")
        if name is None:
            name = ""
            checked[index] = {**item, "clusterName": name}
        elif not isinstance(name, str):
            raise InterpreterError(f"item #{index}: clusterName must be a string")
        status = item.get("status")
        if status is not None and type(status) is not dict and not isinstance(status, Mapping):
            label = name or f"#{index}"
            raise InterpreterError(
                f"item {label}: status must be an object, got {type(status).__name__}"
            )
    checked.sort(key=lambda item: item["clusterName"])
    return checked


def _run(operation: Operation, obj: JSONObject, hook: Callable[..., _T], *args: Any) -> _T:
    """Call a hook; any failure becomes an InterpreterError naming the object."""
    try:
        return hook(*args)
    except InterpreterError as error:
        # the caller may try again later only when the hook said so
        again = isinstance(error, InterpreterUnavailable)
        kind = InterpreterUnavailable if again else InterpreterError
        raise kind(f"{operation} {object_label(obj)}: {error}") from error
    except Exception as error:
        raise InterpreterError(
            f"{operation} {object_label(obj)}: unexpected error: {error!r}"
        ) from error
