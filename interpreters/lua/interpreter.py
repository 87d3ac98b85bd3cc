"""Run one target's Lua customization with a small pool of sandboxed runtimes."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..errors import InterpreterError
from ..model import Hooks, Item, JSONObject, Operation
from .convert import lua_type_name, to_json_object
from .loader import Customization
from .runtime import RuntimeBroken, SandboxedRuntime

_MAX_IDLE = 4
_T = TypeVar("_T")


class LuaInterpreter:
    """The aggregate/reflect/health hooks of one merged customization.

    Runtimes are created on demand (one per concurrent caller), kept for reuse
    (up to a few idle ones), and dropped after a timeout or memory error. The
    first runtime is built at construction so scripts that fail to load are
    reported at once.
    """

    def __init__(self, customization: Customization, *, timeout_s: float, memory_mb: int) -> None:
        self.customization = customization
        self._timeout_s = timeout_s
        self._memory_bytes = memory_mb * 2**20
        self._lock = threading.Lock()
        self._idle = [self._new_runtime()]

    def hooks(self) -> Hooks:
        """The hooks for the operations this customization scripts."""
        scripts = self.customization.scripts
        return Hooks(
            aggregate=self._aggregate_members if Operation.AGGREGATE in scripts else None,
            reflect=self.reflect if Operation.REFLECT in scripts else None,
            health=self.health if Operation.HEALTH in scripts else None,
        )

    def _aggregate_members(self, template: JSONObject, items: Sequence[Item]) -> JSONObject:
        """The registry's hook: no members arrive as nil, as scripts expect."""
        return self.aggregate(template, items or None)

    def aggregate(self, template: JSONObject, items: Sequence[Item] | None) -> JSONObject:
        """`items` None is passed to Lua as nil, an empty list as an empty table."""
        lua_items = None if items is None else [_item_json(item) for item in items]
        return self._run(
            Operation.AGGREGATE,
            (template, lua_items),
            lambda result: to_json_object(result, "AggregateStatus"),
        )

    def reflect(self, obj: JSONObject) -> JSONObject:
        return self._run(
            Operation.REFLECT, (obj,), lambda result: to_json_object(result, "ReflectStatus")
        )

    def health(self, obj: JSONObject) -> bool:
        return self._run(Operation.HEALTH, (obj,), _boolean)

    def _run(self, operation: Operation, args: tuple[Any, ...], convert: Callable[[Any], _T]) -> _T:
        script = self.customization.scripts[operation]
        runtime = self._acquire()
        try:
            result = runtime.call(operation, args, convert)
        except RuntimeBroken as error:
            raise InterpreterError(f"{script.function} ({script.origin}): {error}") from error
        except InterpreterError as error:
            self._release(runtime)
            raise InterpreterError(f"{script.function} ({script.origin}): {error}") from error
        self._release(runtime)
        return result

    def _new_runtime(self) -> SandboxedRuntime:
        return SandboxedRuntime(
            self.customization.scripts, timeout_s=self._timeout_s, memory_bytes=self._memory_bytes
        )

    def _acquire(self) -> SandboxedRuntime:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return self._new_runtime()

    def _release(self, runtime: SandboxedRuntime) -> None:
        with self._lock:
            if len(self._idle) < _MAX_IDLE:
                self._idle.append(runtime)


def _item_json(item: Item) -> dict[str, Any]:
    """An AggregatedStatusItem as Go encodes it: false and empty fields are omitted."""
    result: dict[str, Any] = {"clusterName": item.get("clusterName") or ""}
    if item.get("status") is not None:
        result["status"] = item["status"]
    if item.get("applied"):
        result["applied"] = True
    for key in ("appliedMessage", "health"):
        if item.get(key):
            result[key] = item[key]
    return result


def _boolean(result: Any) -> bool:
    if not isinstance(result, bool):
        raise InterpreterError(
            f"InterpretHealth must return a boolean, got {lua_type_name(result)}"
        )
    return result
