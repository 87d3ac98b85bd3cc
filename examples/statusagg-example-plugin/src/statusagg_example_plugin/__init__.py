"""A statusagg interpreter plugin for `example.statusagg.io/v1alpha1` Widgets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from interpreters import InterpreterError, Operation

TEMPLATE_GENERATION = "resourcetemplate.karmada.io/generation"


class WidgetInterpreter:
    """Aggregates, reflects and judges the health of Widgets."""

    api_version = "example.statusagg.io/v1alpha1"
    kind = "Widget"
    operations = frozenset({Operation.AGGREGATE, Operation.REFLECT, Operation.HEALTH})

    def aggregate(
        self, template: dict[str, Any], items: Sequence[Mapping[str, Any]]
    ) -> dict[str, Any]:
        """Sum the replica counts and list each member's phase; items come sorted by cluster."""
        generation = _int(template.get("metadata", {}), "generation")
        status = dict(template.get("status") or {})
        replicas = ready = caught_up = 0
        clusters = []
        for item in items:
            member = item.get("status")
            if member is None:
                clusters.append({"name": item["clusterName"], "phase": "Unknown"})
                continue
            replicas += _int(member, "replicas")
            ready += _int(member, "readyReplicas")
            clusters.append({"name": item["clusterName"], "phase": member.get("phase", "Unknown")})
            if (
                _int(member, "observedGeneration") >= _int(member, "generation")
                and _int(member, "resourceTemplateGeneration") >= generation
            ):
                caught_up += 1
        status.update(
            replicas=replicas,
            readyReplicas=ready,
            clusters=clusters,
            phase="Ready"
            if clusters and all(c["phase"] == "Ready" for c in clusters)
            else "Progressing",
        )
        if caught_up == len(items):
            status["observedGeneration"] = generation
        template["status"] = status
        return template

    def reflect(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The fields the aggregation needs, plus the generations of the member."""
        status = obj.get("status")
        if status is None:
            return None
        metadata = obj.get("metadata", {})
        annotation = metadata.get("annotations", {}).get(TEMPLATE_GENERATION, "0")
        try:
            template_generation = int(annotation)
        except ValueError:
            raise InterpreterError(
                f"annotation {TEMPLATE_GENERATION}={annotation!r} is not an integer"
            ) from None
        reflected = {
            key: status[key] for key in ("replicas", "readyReplicas", "phase") if key in status
        }
        reflected["observedGeneration"] = _int(status, "observedGeneration")
        reflected["generation"] = _int(metadata, "generation")
        reflected["resourceTemplateGeneration"] = template_generation
        return reflected

    def health(self, obj: dict[str, Any]) -> bool:
        """Ready, with every desired replica ready."""
        status = obj.get("status") or {}
        desired = _int(obj.get("spec") or {}, "replicas")
        return status.get("phase") == "Ready" and _int(status, "readyReplicas") >= desired


def _int(obj: Mapping[str, Any], key: str) -> int:
    value = obj.get(key, 0)
    if type(value) is not int:
        raise InterpreterError(f"{key}: expected an integer, got {value!r}")
    return value
