"""Turn a member object into a report item: reflected status, health and generations."""

from __future__ import annotations

import json
import logging
from typing import Any

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from interpreters import InterpreterError, Registry

log = logging.getLogger(__name__)

TEMPLATE_GENERATION = "resourcetemplate.karmada.io/generation"


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _health(registry: Registry, obj: dict[str, Any]) -> pb.Health.ValueType:
    try:
        healthy = registry.health(obj)
    except InterpreterError as exc:
        log.warning("health of %s failed: %s", obj["metadata"].get("name"), exc)
        return pb.HEALTH_UNKNOWN
    if healthy is None or healthy:  # no hook in any layer counts as healthy, as in Karmada
        return pb.HEALTH_HEALTHY
    return pb.HEALTH_UNHEALTHY


def member_item(
    cluster: str, api_version: str, kind: str, obj: dict[str, Any], registry: Registry
) -> pb.MemberStatus:
    """The item for one member object (sequence left 0 for the reporter). Raises
    InterpreterError when the status cannot be reflected."""
    meta = obj["metadata"]
    status = registry.reflect(obj)
    live_status = obj.get("status")
    observed = (
        _int_or_none(live_status.get("observedGeneration"))
        if isinstance(live_status, dict)
        else None
    )
    item = pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(
            api_version=api_version,
            kind=kind,
            namespace=meta.get("namespace", ""),
            name=meta["name"],
        ),
        status_json=json.dumps(status, sort_keys=True).encode() if status is not None else b"",
        applied=True,
        health=_health(registry, obj),
    )
    generation = _int_or_none(meta.get("generation"))
    template_generation = _int_or_none((meta.get("annotations") or {}).get(TEMPLATE_GENERATION))
    if generation is not None:
        item.generation = generation
    if observed is not None:
        item.observed_generation = observed
    if template_generation is not None:
        item.template_generation = template_generation
    return item


def removal_item(
    cluster: str, api_version: str, kind: str, namespace: str, name: str
) -> pb.MemberStatus:
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(api_version=api_version, kind=kind, namespace=namespace, name=name),
        removed=True,
    )
