"""Helpers for JSON-shaped data (dicts, lists and scalars)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

_T = TypeVar("_T")
_CONTAINERS = frozenset({dict, list, tuple})


def clone(value: _T) -> _T:
    """Deep copy of JSON-shaped data; several times faster than copy.deepcopy."""
    return cast(_T, _clone(value))


def object_label(obj: Mapping[str, Any]) -> str:
    """`Kind(namespace/name)`, naming an object in messages."""
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name", "")
    namespace = meta.get("namespace")
    return (
        f"{obj.get('kind', '?')}({namespace}/{name})"
        if namespace
        else f"{obj.get('kind', '?')}({name})"
    )


def _clone(value: Any) -> Any:
    if type(value) is dict:
        return {k: _clone(v) if type(v) in _CONTAINERS else v for k, v in value.items()}
    if type(value) is list:
        return [_clone(v) if type(v) in _CONTAINERS else v for v in value]
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clone(v) for v in value]
    return value
