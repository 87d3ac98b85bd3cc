"""Typed access to JSON fields with Kubernetes typed-object semantics.

A missing field reads as the Go zero value; a field of the wrong type is an
InterpreterError, as converting to a typed Go object would fail in Karmada.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ..errors import InterpreterError


def as_int(value: Any, path: str) -> int:
    """An integer field; None is 0, an integral float is accepted, anything else fails."""
    if value is None:
        return 0
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise InterpreterError(f"{path}: expected an integer, got {_json_type(value)} {value!r}")


def join(path: str, key: str) -> str:
    """The path of `key` inside the object at `path` ("" is the top-level object)."""
    return f"{path}.{key}" if path else key


def get_int(obj: Mapping[str, Any], key: str, path: str) -> int:
    value = obj.get(key)
    if type(value) is int:
        return value
    if value is None:
        return 0
    return as_int(value, join(path, key))


def get_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    raise InterpreterError(
        f"{join(path, key)}: expected a string, got {_json_type(value)} {value!r}"
    )


def get_bool(obj: Mapping[str, Any], key: str, path: str) -> bool:
    value = obj.get(key)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise InterpreterError(
        f"{join(path, key)}: expected a boolean, got {_json_type(value)} {value!r}"
    )


def get_map(obj: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """A nested object; a missing one reads as empty."""
    value = obj.get(key)
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return value
    raise InterpreterError(f"{join(path, key)}: expected an object, got {_json_type(value)}")


def get_list(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise InterpreterError(f"{join(path, key)}: expected a list, got {_json_type(value)}")


def get_maps(obj: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
    """A list of objects."""
    values = get_list(obj, key, path)
    for index, value in enumerate(values):
        if not isinstance(value, Mapping):
            raise InterpreterError(f"{join(path, key)}[{index}]: expected an object")
    return values


def status_of(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """`.status` of an object, None when absent."""
    status = obj.get("status")
    if status is None or isinstance(status, Mapping):
        return status
    raise InterpreterError(f"status must be an object, got {_json_type(status)}")


def generation(obj: Mapping[str, Any]) -> int:
    """`metadata.generation` (0 when unset)."""
    return get_int(get_map(obj, "metadata", ""), "generation", "metadata")


def set_omitempty(status: dict[str, Any], key: str, value: int) -> None:
    """Write an `omitempty` integer as Go's JSON encoding does: zero removes the key."""
    if value:
        status[key] = value
    else:
        status.pop(key, None)


def parse_time(value: Any, path: str) -> datetime | None:
    """An RFC 3339 timestamp (metav1.Time); None when absent."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise InterpreterError(f"{path}: expected an RFC 3339 timestamp, got {value!r}")


def format_time(value: datetime) -> str:
    """metav1.Time's JSON form: UTC, whole seconds."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> str:
    return format_time(datetime.now(UTC))


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__
