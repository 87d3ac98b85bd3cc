"""Convert Lua results to JSON the way Karmada does.

Karmada encodes the returned Lua table as JSON (gopher-json) and decodes it into
the target type: a table with consecutive integer keys from 1 is a list, a table
with string keys is an object, integral numbers come back as integers, and an
empty table (which could be `{}` or `[]`) is deleted from the result; only an
empty table at the top level becomes `{}`.
"""

from __future__ import annotations

import math
from typing import Any

from lupa import lua51

from ..errors import InterpreterError

_MAX_DEPTH = 100
_EMPTY = object()


def lua_type_name(value: Any) -> str:
    """The Lua type of a value returned by a Lua function."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str | bytes):
        return "string"
    return lua51.lua_type(value) or type(value).__name__


def to_json_object(value: Any, what: str) -> dict[str, Any]:
    """A returned table as a JSON object."""
    if lua51.lua_type(value) != "table":
        raise InterpreterError(f"{what} must return a table, got {lua_type_name(value)}")
    result = _convert(value, 0)
    if result is _EMPTY:
        return {}
    if not isinstance(result, dict):
        raise InterpreterError(f"{what} must return a table with string keys, got a list")
    return result


def _convert(value: Any, depth: int) -> Any:
    kind = type(value)
    if value is None or kind is bool or kind is int or kind is str:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise InterpreterError(f"cannot encode the number {value} as JSON")
        return value
    if lua51.lua_type(value) != "table":
        raise InterpreterError(f"cannot encode a Lua {lua_type_name(value)} as JSON")
    if depth >= _MAX_DEPTH:
        raise InterpreterError(f"tables nested deeper than {_MAX_DEPTH} levels (a cycle?)")
    pairs = list(value.items())
    if not pairs:
        return _EMPTY
    if all(type(key) is str for key, _ in pairs):
        result = {}
        for key, item in pairs:
            converted = _convert(item, depth + 1)
            if converted is not _EMPTY:
                result[key] = converted
        return result
    if all(type(key) is int for key, _ in pairs):
        pairs.sort(key=lambda pair: pair[0])
        if pairs[0][0] != 1 or pairs[-1][0] != len(pairs):
            raise InterpreterError("cannot encode a sparse Lua array as JSON")
        converted_items = (_convert(item, depth + 1) for _, item in pairs)
        return [item for item in converted_items if item is not _EMPTY]
    raise InterpreterError("cannot encode a Lua table with mixed or non-string keys as JSON")
