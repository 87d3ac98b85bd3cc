"""Run one target's Lua customization in the shared pool of worker processes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from ..errors import InterpreterError
from ..model import Hooks, Item, JSONObject, Operation
from .loader import Customization
from .pool import WorkerPool


class LuaInterpreter:
    """The aggregate/reflect/health hooks of one merged customization.

    Scripts run in `pool`'s worker processes, never in the caller's. The scripts are loaded once
    at construction so that scripts which fail to load are reported at once.
    """

    def __init__(
        self,
        customization: Customization,
        pool: WorkerPool,
        *,
        timeout_s: float,
        memory_mb: int,
    ) -> None:
        self.customization = customization
        self._pool = pool
        self._timeout_s = timeout_s
        self._memory_bytes = memory_mb * 2**20
        self._scripts = [
            {
                "operation": script.operation.value,
                "code": script.code,
                "customization": script.customization,
                "path": script.path,
            }
            for script in customization.scripts.values()
        ]
        digest = hashlib.sha256(
            json.dumps([self._scripts, timeout_s, memory_mb], sort_keys=True).encode()
        )
        self._key = digest.hexdigest()[:32]
        self._call("load", [])

    def hooks(self) -> Hooks:
        """The hooks for the operations this customization scripts."""
        scripts = self.customization.scripts
        return Hooks(
            aggregate=self.aggregate if Operation.AGGREGATE in scripts else None,
            reflect=self.reflect if Operation.REFLECT in scripts else None,
            health=self.health if Operation.HEALTH in scripts else None,
        )

    def aggregate(self, template: JSONObject, items: Sequence[Item] | None) -> JSONObject:
        """`items` None is passed to Lua as nil, an empty list as an empty table."""
        lua_items = None if items is None else [_item_json(item) for item in items]
        result: JSONObject = self._run(Operation.AGGREGATE, [template, lua_items])
        return result

    def reflect(self, obj: JSONObject) -> JSONObject:
        result: JSONObject = self._run(Operation.REFLECT, [obj])
        return result

    def health(self, obj: JSONObject) -> bool:
        return bool(self._run(Operation.HEALTH, [obj]))

    def _run(self, operation: Operation, args: list[Any]) -> Any:
        script = self.customization.scripts[operation]
        try:
            return self._call(operation.value, args)
        except InterpreterError as error:
            raise InterpreterError(f"{script.function} ({script.origin}): {error}") from error

    def _call(self, operation: str, args: list[Any]) -> Any:
        request = {"op": operation, "args": args, "timeout": self._timeout_s}
        request["memory"] = self._memory_bytes
        return self._pool.call(self._key, self._scripts, request, self._timeout_s)


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
