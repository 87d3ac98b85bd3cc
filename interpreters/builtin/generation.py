"""The observedGeneration rule shared by the workload kinds.

A member has caught up when its controller observed its own spec
(`observedGeneration >= generation`) and it was built from the latest template
(`resourceTemplateGeneration >= template generation`). The federated
`observedGeneration` advances to the template's generation only when every item
has caught up; items without a status never have.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ..errors import InterpreterError
from .fields import get_int, get_map

TEMPLATE_GENERATION_ANNOTATION = "resourcetemplate.karmada.io/generation"
_INT64 = re.compile(r"[+-]?[0-9]+")


def observed_generation(
    template_generation: int,
    current: int,
    member_statuses: list[tuple[str, Mapping[str, Any]]],
    item_count: int,
) -> int:
    """The federated observedGeneration from `(path, status)` of the items that have a status."""
    caught_up = sum(
        1
        for path, status in member_statuses
        if get_int(status, "observedGeneration", path) >= get_int(status, "generation", path)
        and get_int(status, "resourceTemplateGeneration", path) >= template_generation
    )
    return template_generation if caught_up == item_count else current


def federated_generation(obj: Mapping[str, Any]) -> dict[str, int]:
    """`generation` and `resourceTemplateGeneration` of a member object (zeros omitted)."""
    meta = get_map(obj, "metadata", "")
    annotations = get_map(meta, "annotations", "metadata")
    raw = annotations.get(TEMPLATE_GENERATION_ANNOTATION)
    if raw is None:
        raise InterpreterError(
            f"annotation {TEMPLATE_GENERATION_ANNOTATION} is missing; "
            "it must hold the template generation the member was built from"
        )
    if not isinstance(raw, str) or not _INT64.fullmatch(raw) or not -(2**63) <= int(raw) < 2**63:
        raise InterpreterError(
            f"annotation {TEMPLATE_GENERATION_ANNOTATION}={raw!r} is not an integer"
        )
    result: dict[str, int] = {}
    member_generation = get_int(meta, "generation", "metadata")
    if member_generation:
        result["generation"] = member_generation
    if int(raw):
        result["resourceTemplateGeneration"] = int(raw)
    return result
