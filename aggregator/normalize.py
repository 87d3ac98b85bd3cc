"""Canonical form of a status for comparison: ``normalize(a) == normalize(b)`` means no write.

Both sides go through the same rules: nulls, empty maps and empty lists are dropped (the API
server omits them anyway), integral floats become integers, and lists whose order carries no
meaning (conditions keyed by ``type``) are sorted. The result is also what gets written, so a
float like ``3.0`` never reaches an int32 field.

Comparisons with the live object also omit zero values (0, false, ""), because the API server
omits them from typed objects (Go's ``omitempty``): ``{"readyReplicas": 0}`` is written, and
reads back as ``{}``.
"""

from __future__ import annotations

from typing import Any


def _condition_key(item: Any) -> str:
    return str(item.get("type", "")) if isinstance(item, dict) else ""


def _is_keyed_by_type(items: list[Any]) -> bool:
    return len(items) > 1 and all(isinstance(i, dict) and "type" in i for i in items)


def _omitted(value: Any, omit_zero: bool) -> bool:
    if value is None or value == {} or value == []:
        return True
    return omit_zero and not isinstance(value, dict | list) and not value


def normalize(value: Any, *, omit_zero: bool = False) -> Any:
    """Return the canonical form of a JSON value (a new object; the input is not changed)."""
    if isinstance(value, dict):
        out = {}
        for name, child in value.items():
            norm = normalize(child, omit_zero=omit_zero)
            if _omitted(norm, omit_zero):
                continue
            out[name] = norm
        return out
    if isinstance(value, list):
        items = [normalize(child, omit_zero=omit_zero) for child in value]
        if _is_keyed_by_type(items):
            items.sort(key=_condition_key)
        return items
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


def same_json(a: Any, b: Any) -> bool:
    """JSON equality: unlike ``==``, ``true`` and ``1`` (and ``1`` and ``1.0``) differ."""
    return bool(a == b) and _same_types(a, b)


def _same_types(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return all(_same_types(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return all(map(_same_types, a, b))
    return True


def normalized_status(obj: dict[str, Any] | None) -> dict[str, Any]:
    """The normalised ``.status`` of an object (empty when it has none)."""
    if not obj:
        return {}
    status = obj.get("status")
    return normalize(status) if isinstance(status, dict) else {}


def comparable(status: dict[str, Any]) -> dict[str, Any]:
    """The form two statuses are compared in (zero values omitted, as the API server does)."""
    result: dict[str, Any] = normalize(status, omit_zero=True)
    return result


def comparable_status(obj: dict[str, Any] | None) -> dict[str, Any]:
    """The comparable form of an object's ``.status``."""
    status = obj.get("status") if obj else None
    return comparable(status) if isinstance(status, dict) else {}
