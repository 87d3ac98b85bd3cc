"""Built-in status aggregation for Karmada's 13 native kinds.

Each function takes the resource template and the member items (sorted by
clusterName, statuses already checked to be objects or None) and returns a new
object: a deep copy of the template with the aggregated `.status`. Integers stay
integers and zero-valued `omitempty` fields are left out, as Karmada's typed
round trip writes them. When the new status equals the current one as Karmada
compares them (typed Go values, see `goequal`), the template is returned
unchanged, so `status: {}` or an empty list stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..jsonutil import clone
from ..model import AggregateFn, Item, JSONObject, Target
from .fields import (
    format_time,
    generation,
    get_bool,
    get_int,
    get_list,
    get_map,
    get_maps,
    get_str,
    parse_time,
    set_omitempty,
    status_of,
)
from .generation import observed_generation
from .goequal import Map, Ptr, Slice, Struct, Time, go_equal
from .job import aggregate_job_status, finished_condition
from .loadbalancer import merge_ingress


def _with_status(template: JSONObject, status: Mapping[str, Any]) -> JSONObject:
    """A copy of the template with a new status (the old one must have been an object)."""
    status_of(template)
    result = {key: clone(value) for key, value in template.items() if key != "status"}
    result["status"] = status
    return result


def _unless_equal(
    template: JSONObject,
    status: Mapping[str, Any],
    schema: Struct,
    *,
    typed: Mapping[str, Any] | None = None,
    semantic: bool = False,
) -> JSONObject:
    """The template unchanged if its status equals the new one as Go values, else updated.

    `typed` is the new status as the Go value holds it, where it differs from the JSON
    written (an empty but non-nil list or map).
    """
    current = status_of(template)
    if go_equal(current, status if typed is None else typed, schema, semantic=semantic):
        return clone(template)
    return _with_status(template, status)


def _statuses(items: Sequence[Item]) -> list[tuple[str, Mapping[str, Any]]]:
    """(`<cluster>: status`, status) for the items that have a status."""
    return [
        (f"{item['clusterName']}: status", item["status"])
        for item in items
        if item.get("status") is not None
    ]


def _replicated(
    summed: tuple[str, ...], always: frozenset[str], whole: Struct | None = None
) -> AggregateFn:
    """Sum counters over members and apply the observedGeneration rule.

    `always` names the counters without `omitempty` in the Go type, written even when 0.
    Karmada compares the summed fields and observedGeneration, or with `whole` the
    whole status semantically against a new status holding only those fields.
    """
    compared = whole or Struct(dict.fromkeys((*summed, "observedGeneration")), closed=True)

    def aggregate(template: JSONObject, items: Sequence[Item]) -> JSONObject:
        current = status_of(template) or {}
        statuses = _statuses(items)
        totals = dict.fromkeys(summed, 0)
        for path, member in statuses:
            for field in summed:
                value = member.get(field)
                # inline for plain integers and absent fields: this runs for every member of
                # every write
                if type(value) is int:
                    totals[field] += value
                elif value is not None:
                    totals[field] += get_int(member, field, path)
        status: dict[str, Any] = clone(dict(current))
        for field, total in totals.items():
            if field in always:
                status[field] = total
            else:
                set_omitempty(status, field, total)
        set_omitempty(
            status,
            "observedGeneration",
            observed_generation(
                generation(template),
                get_int(current, "observedGeneration", "status"),
                statuses,
                len(items),
            ),
        )
        if whole is None:
            return _unless_equal(template, status, compared)
        typed = {field: status.get(field) for field in (*summed, "observedGeneration")}
        return _unless_equal(template, status, compared, typed=typed, semantic=True)

    return aggregate


aggregate_deployment = _replicated(
    ("replicas", "readyReplicas", "updatedReplicas", "availableReplicas", "unavailableReplicas"),
    frozenset(),
)
aggregate_replica_set = _replicated(
    ("replicas", "readyReplicas", "availableReplicas"), frozenset({"replicas"})
)
aggregate_stateful_set = _replicated(
    ("availableReplicas", "currentReplicas", "readyReplicas", "replicas", "updatedReplicas"),
    frozenset({"replicas", "availableReplicas"}),
)
aggregate_daemon_set = _replicated(
    (
        "currentNumberScheduled",
        "desiredNumberScheduled",
        "numberAvailable",
        "numberMisscheduled",
        "numberReady",
        "updatedNumberScheduled",
        "numberUnavailable",
    ),
    frozenset(
        {"currentNumberScheduled", "numberMisscheduled", "desiredNumberScheduled", "numberReady"}
    ),
    Struct({"collisionCount": Ptr(None)}),
)


def _ingress_entries(items: Sequence[Item]) -> list[tuple[str, Mapping[str, Any]]]:
    entries = []
    for path, status in _statuses(items):
        load_balancer = get_map(status, "loadBalancer", path)
        for index, entry in enumerate(get_maps(load_balancer, "ingress", f"{path}.loadBalancer")):
            entries.append((f"{path}.loadBalancer.ingress[{index}]", entry))
    return entries


def _load_balancer_schema(*, with_ip_mode: bool) -> Struct:
    port = Struct({"error": Ptr(None)})
    entry = Struct({"ports": Slice(port), **({"ipMode": Ptr(None)} if with_ip_mode else {})})
    return Struct({"loadBalancer": Struct({"ingress": Slice(entry)})})


_SERVICE_STATUS = _load_balancer_schema(with_ip_mode=True)
_INGRESS_STATUS = _load_balancer_schema(with_ip_mode=False)


def _load_balancer_status(
    template: JSONObject, ingress: list[dict[str, Any]], schema: Struct
) -> JSONObject:
    """The merged list replaces the status; Karmada's merged list is never nil."""
    status = {"loadBalancer": {"ingress": ingress} if ingress else {}}
    typed = {"loadBalancer": {"ingress": ingress}}
    return _unless_equal(template, status, schema, typed=typed)


def aggregate_service(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """LoadBalancer Services only: the merged ingress list replaces the whole status."""
    if get_str(get_map(template, "spec", ""), "type", "spec") != "LoadBalancer":
        return clone(template)
    merged = merge_ingress(_ingress_entries(items), with_ip_mode=True)
    return _load_balancer_status(template, merged, _SERVICE_STATUS)


def aggregate_ingress(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """The merged ingress list replaces the whole status."""
    merged = merge_ingress(_ingress_entries(items), with_ip_mode=False)
    return _load_balancer_status(template, merged, _INGRESS_STATUS)


_JOB_STATUS = Struct(
    {
        "startTime": Ptr(Time),
        "completionTime": Ptr(Time),
        "terminating": Ptr(None),
        "failedIndexes": Ptr(None),
        "ready": Ptr(None),
    }
)


def aggregate_job(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """A finished Job (Complete or Failed) is never updated again."""
    current = status_of(template) or {}
    if finished_condition(current, "status") is not None:
        return clone(template)
    return _unless_equal(template, aggregate_job_status(current, items), _JOB_STATUS)


_CRON_JOB_STATUS = Struct({"lastScheduleTime": Ptr(Time), "lastSuccessfulTime": Ptr(Time)})


def aggregate_cron_job(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """`active` concatenated; `lastScheduleTime` and `lastSuccessfulTime` the latest."""
    status: dict[str, Any] = clone(dict(status_of(template) or {}))
    active: list[Any] = []
    latest: dict[str, Any] = {"lastScheduleTime": None, "lastSuccessfulTime": None}
    for path, member in _statuses(items):
        active.extend(get_list(member, "active", path))
        for field, best in latest.items():
            value = parse_time(member.get(field), f"{path}.{field}")
            if value is not None and (best is None or best < value):
                latest[field] = value
    if active:
        status["active"] = clone(active)
    else:
        status.pop("active", None)
    for field, value in latest.items():
        if value is None:
            status.pop(field, None)
        else:
            status[field] = format_time(value)
    return _unless_equal(template, status, _CRON_JOB_STATUS)


_POD_PHASES = ("Failed", "Pending", "Running", "Succeeded")
_VOLUME_PHASES = ("Failed", "Pending", "Available", "Bound", "Released")


def _first_phase(precedence: tuple[str, ...], seen: set[str]) -> dict[str, Any]:
    for phase in precedence:
        if phase in seen:
            return {"phase": phase}
    return {}


def _container_statuses(member: Mapping[str, Any], key: str, path: str) -> list[dict[str, Any]]:
    """Only `ready` and `state` are kept; the rest are Go zero values."""
    result = []
    for index, container in enumerate(get_maps(member, key, path)):
        where = f"{path}.{key}[{index}]"
        result.append(
            {
                "name": "",
                "state": clone(get_map(container, "state", where)),
                "lastState": {},
                "ready": get_bool(container, "ready", where),
                "restartCount": 0,
                "image": "",
                "imageID": "",
            }
        )
    return result


_POD_STATUS = Struct({"startTime": Ptr(Time)})
_PERSISTENT_VOLUME_STATUS = Struct({"lastPhaseTransitionTime": Ptr(Time)})
_PERSISTENT_VOLUME_CLAIM_STATUS = Struct(
    {"currentVolumeAttributesClassName": Ptr(None), "modifyVolumeStatus": Ptr(None)}
)
_POD_DISRUPTION_BUDGET_STATUS = Struct({"disruptedPods": Map(Time)})
_HORIZONTAL_POD_AUTOSCALER_STATUS = Struct(
    {"observedGeneration": Ptr(None), "lastScaleTime": Ptr(Time)}
)


def aggregate_pod(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """Phase precedence Failed > Pending > Running > Succeeded; no member status is Pending."""
    if not items:
        return clone(template)
    phases: set[str] = set()
    containers: list[dict[str, Any]] = []
    init_containers: list[dict[str, Any]] = []
    for item in items:
        member = item.get("status")
        if member is None:
            phases.add("Pending")
            continue
        path = f"{item['clusterName']}: status"
        phases.add(get_str(member, "phase", path))
        containers.extend(_container_statuses(member, "containerStatuses", path))
        init_containers.extend(_container_statuses(member, "initContainerStatuses", path))
    status = _first_phase(_POD_PHASES, phases)
    if containers:
        status["containerStatuses"] = containers
    if init_containers:
        status["initContainerStatuses"] = init_containers
    typed = {**status, "containerStatuses": containers}
    return _unless_equal(template, status, _POD_STATUS, typed=typed)


def aggregate_persistent_volume(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """Phase precedence Failed > Pending > Available > Bound > Released; no status is Pending."""
    phases = {
        "Pending"
        if item.get("status") is None
        else get_str(item["status"], "phase", f"{item['clusterName']}: status")
        for item in items
    }
    return _unless_equal(template, _first_phase(_VOLUME_PHASES, phases), _PERSISTENT_VOLUME_STATUS)


def aggregate_persistent_volume_claim(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """Bound unless a member is not: Lost wins, else the last non-Bound phase."""
    phase = "Bound"
    for path, member in _statuses(items):
        member_phase = get_str(member, "phase", path)
        if member_phase == "Lost":
            phase = member_phase
            break
        if member_phase != "Bound":
            phase = member_phase
    return _unless_equal(
        template, {"phase": phase} if phase else {}, _PERSISTENT_VOLUME_CLAIM_STATUS
    )


def aggregate_pod_disruption_budget(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """Counters summed; disrupted pods keyed `<cluster>/<pod>`; the whole status replaced."""
    totals = dict.fromkeys(
        ("currentHealthy", "desiredHealthy", "expectedPods", "disruptionsAllowed"), 0
    )
    disrupted: dict[str, str] = {}
    for item in items:
        member = item.get("status")
        if member is None:
            continue
        cluster = item["clusterName"]
        path = f"{cluster}: status"
        for field in totals:
            totals[field] += get_int(member, field, path)
        for pod, when in get_map(member, "disruptedPods", path).items():
            parsed = parse_time(when, f"{path}.disruptedPods.{pod}")
            if parsed is not None:
                disrupted[f"{cluster}/{pod}"] = format_time(parsed)
    status: dict[str, Any] = {**totals}
    if disrupted:
        status["disruptedPods"] = disrupted
    typed = {**status, "disruptedPods": disrupted}
    return _unless_equal(template, status, _POD_DISRUPTION_BUDGET_STATUS, typed=typed)


def aggregate_horizontal_pod_autoscaler(template: JSONObject, items: Sequence[Item]) -> JSONObject:
    """`currentReplicas` and `desiredReplicas` summed; the whole status replaced."""
    current = desired = 0
    for path, member in _statuses(items):
        current += get_int(member, "currentReplicas", path)
        desired += get_int(member, "desiredReplicas", path)
    status: dict[str, Any] = {"desiredReplicas": desired}
    set_omitempty(status, "currentReplicas", current)
    return _unless_equal(template, status, _HORIZONTAL_POD_AUTOSCALER_STATUS)


AGGREGATE: dict[Target, AggregateFn] = {
    ("apps/v1", "Deployment"): aggregate_deployment,
    ("apps/v1", "ReplicaSet"): aggregate_replica_set,
    ("apps/v1", "StatefulSet"): aggregate_stateful_set,
    ("apps/v1", "DaemonSet"): aggregate_daemon_set,
    ("v1", "Service"): aggregate_service,
    ("networking.k8s.io/v1", "Ingress"): aggregate_ingress,
    ("batch/v1", "Job"): aggregate_job,
    ("batch/v1", "CronJob"): aggregate_cron_job,
    ("v1", "Pod"): aggregate_pod,
    ("v1", "PersistentVolume"): aggregate_persistent_volume,
    ("v1", "PersistentVolumeClaim"): aggregate_persistent_volume_claim,
    ("policy/v1", "PodDisruptionBudget"): aggregate_pod_disruption_budget,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): aggregate_horizontal_pod_autoscaler,
}
