"""Compare a template's status with a new one as Go compares the typed structs.

Karmada's native aggregators return the template untouched when the new status
equals the current one as typed Go values. In that comparison a missing field
equals its zero value (0, "", false), a nil pointer differs from a pointer to a
zero value, and a nil slice or map differs from an empty one unless the
comparison is `equality.Semantic`. A `Struct` names the fields whose Go type
matters; any other field is a plain value where absent, null, 0, "" and false
are alike, and lists and objects are nil only when absent or null.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .fields import parse_time


@dataclass(frozen=True, slots=True)
class Struct:
    """A Go struct; `closed` compares only the listed fields."""

    fields: Mapping[str, Schema] = field(default_factory=dict)
    closed: bool = False


@dataclass(frozen=True, slots=True)
class Slice:
    """A Go slice of `element`."""

    element: Schema


@dataclass(frozen=True, slots=True)
class Ptr:
    """A Go pointer: absent or null is nil, anything else is not."""

    element: Schema


@dataclass(frozen=True, slots=True)
class Map:
    """A Go map of string to `element`."""

    element: Schema


class Time:
    """metav1.Time: compared as an instant."""


Schema = Struct | Slice | Ptr | Map | type[Time] | None
"""None is a plain value (an integer, string or boolean)."""


def go_equal(old: Any, new: Any, schema: Schema, *, semantic: bool = False) -> bool:
    """Whether two JSON values decode to equal Go values of the type `schema` describes.

    `semantic` is `equality.Semantic.DeepEqual`: an empty slice or map equals nil.
    """
    return _equal(old, new, schema, semantic)


def _equal(old: Any, new: Any, schema: Schema, semantic: bool) -> bool:
    if isinstance(schema, Struct):
        return _equal_struct(old or {}, new or {}, schema, semantic)
    if isinstance(schema, Ptr):
        return (old is None) == (new is None) and _equal(old, new, schema.element, semantic)
    if schema is Time:
        return bool(_instant(old) == _instant(new))
    if isinstance(schema, Slice | Map) or _container(old) or _container(new):
        return _equal_container(old, new, schema, semantic)
    return (old or None) == (new or None)


def _equal_struct(
    old: Mapping[str, Any], new: Mapping[str, Any], schema: Struct, semantic: bool
) -> bool:
    names: set[str] = set(schema.fields)
    if not schema.closed:
        names = names | old.keys() | new.keys()
    return all(
        _equal(old.get(name), new.get(name), schema.fields.get(name), semantic) for name in names
    )


def _equal_container(old: Any, new: Any, schema: Schema, semantic: bool) -> bool:
    if semantic:
        old = old or None
        new = new or None
    if old is None or new is None:
        return old is new
    element = schema.element if isinstance(schema, Slice | Map) else None
    if isinstance(old, list) and isinstance(new, list):
        return len(old) == len(new) and all(
            _equal(a, b, element, semantic) for a, b in zip(old, new, strict=True)
        )
    if isinstance(old, dict) and isinstance(new, dict):
        if isinstance(schema, Map):
            return old.keys() == new.keys() and all(
                _equal(old[key], new[key], element, semantic) for key in old
            )
        return _equal_struct(old, new, Struct(), semantic)
    return False


def _container(value: Any) -> bool:
    return isinstance(value, list | dict)


def _instant(value: Any) -> float | None:
    parsed = parse_time(value, "time")
    return None if parsed is None else parsed.timestamp()
