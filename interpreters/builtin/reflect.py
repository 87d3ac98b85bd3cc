"""Built-in status reflection: what an agent reports for a member object.

Nine kinds keep selected fields; every other kind reports its whole `.status`.
An object without a status reflects None. Deployment, ReplicaSet, StatefulSet
and DaemonSet also report `generation` and `resourceTemplateGeneration` (from the
`resourcetemplate.karmada.io/generation` annotation, which must be present).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..jsonutil import clone
from ..model import JSONObject, ReflectFn, Target
from .fields import (
    format_time,
    get_int,
    get_map,
    get_maps,
    get_str,
    parse_time,
    set_omitempty,
    status_of,
)
from .generation import federated_generation


def _counters(
    fields: tuple[str, ...], always: frozenset[str], *, empty_is_none: bool = False
) -> ReflectFn:
    """Keep integer counters plus the federated generation.

    `always` names the counters without `omitempty` in the Go type.
    """

    def reflect(obj: JSONObject) -> JSONObject | None:
        status = status_of(obj)
        if status is None:
            return None
        result: JSONObject = {}
        for field in fields:
            value = get_int(status, field, "status")
            if field in always:
                result[field] = value
            else:
                set_omitempty(result, field, value)
        result = {**federated_generation(obj), **result}
        return None if empty_is_none and not result else result

    return reflect


reflect_deployment = _counters(
    (
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
        "unavailableReplicas",
        "observedGeneration",
    ),
    frozenset(),
    empty_is_none=True,
)
reflect_replica_set = _counters(
    ("replicas", "readyReplicas", "availableReplicas", "observedGeneration"),
    frozenset({"replicas"}),
    empty_is_none=True,
)
reflect_stateful_set = _counters(
    (
        "availableReplicas",
        "currentReplicas",
        "readyReplicas",
        "replicas",
        "updatedReplicas",
        "observedGeneration",
    ),
    frozenset({"availableReplicas", "replicas"}),
)
reflect_daemon_set = _counters(
    (
        "currentNumberScheduled",
        "desiredNumberScheduled",
        "numberAvailable",
        "numberMisscheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberUnavailable",
        "observedGeneration",
    ),
    frozenset(
        {"currentNumberScheduled", "desiredNumberScheduled", "numberMisscheduled", "numberReady"}
    ),
)


def reflect_whole_status(obj: JSONObject) -> JSONObject | None:
    """The whole `.status` (the default for kinds without a reflect hook)."""
    status = status_of(obj)
    return None if status is None else clone(dict(status))


def reflect_service(obj: JSONObject) -> JSONObject | None:
    """Only LoadBalancer Services report, and only `loadBalancer`."""
    if get_str(get_map(obj, "spec", ""), "type", "spec") != "LoadBalancer":
        return None
    status = status_of(obj)
    if status is None:
        return None
    load_balancer = get_map(status, "loadBalancer", "status")
    ingress = get_maps(load_balancer, "ingress", "status.loadBalancer")
    return {"loadBalancer": {"ingress": clone(ingress)} if ingress else {}}


def reflect_job(obj: JSONObject) -> JSONObject | None:
    status = status_of(obj)
    if status is None:
        return None
    path = "status"
    result: JSONObject = {}
    conditions = get_maps(status, "conditions", path)
    if conditions:
        result["conditions"] = clone(conditions)
    for field in ("startTime", "completionTime"):
        value = parse_time(status.get(field), f"{path}.{field}")
        if value is not None:
            result[field] = format_time(value)
    for field in ("active", "succeeded", "failed"):
        set_omitempty(result, field, get_int(status, field, path))
    return result


def reflect_pod_disruption_budget(obj: JSONObject) -> JSONObject | None:
    status = status_of(obj)
    if status is None:
        return None
    path = "status"
    result: JSONObject = {
        field: get_int(status, field, path)
        for field in ("disruptionsAllowed", "expectedPods", "desiredHealthy", "currentHealthy")
    }
    disrupted = _times(get_map(status, "disruptedPods", path), f"{path}.disruptedPods")
    if disrupted:
        result["disruptedPods"] = disrupted
    return result


def reflect_horizontal_pod_autoscaler(obj: JSONObject) -> JSONObject | None:
    status = status_of(obj)
    if status is None:
        return None
    path = "status"
    result: JSONObject = {"desiredReplicas": get_int(status, "desiredReplicas", path)}
    set_omitempty(result, "currentReplicas", get_int(status, "currentReplicas", path))
    return result


def _times(values: Mapping[str, Any], path: str) -> dict[str, str]:
    result = {}
    for key, value in values.items():
        parsed = parse_time(value, f"{path}.{key}")
        if parsed is not None:
            result[key] = format_time(parsed)
    return result


REFLECT: dict[Target, ReflectFn] = {
    ("apps/v1", "Deployment"): reflect_deployment,
    ("apps/v1", "ReplicaSet"): reflect_replica_set,
    ("apps/v1", "StatefulSet"): reflect_stateful_set,
    ("apps/v1", "DaemonSet"): reflect_daemon_set,
    ("v1", "Service"): reflect_service,
    ("networking.k8s.io/v1", "Ingress"): reflect_whole_status,
    ("batch/v1", "Job"): reflect_job,
    ("policy/v1", "PodDisruptionBudget"): reflect_pod_disruption_budget,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): reflect_horizontal_pod_autoscaler,
}
