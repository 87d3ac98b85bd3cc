"""Built-in health interpretation of member objects for Karmada's nine kinds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..model import HealthFn, JSONObject, Target
from .fields import as_int, generation, get_int, get_map, get_maps, get_str, status_of


def _parts(obj: JSONObject) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
    return get_map(obj, "spec", ""), status_of(obj) or {}


def _desired_replicas(spec: Mapping[str, Any]) -> int | None:
    value = spec.get("replicas")
    return None if value is None else as_int(value, "spec.replicas")


def health_workload(obj: JSONObject) -> bool:
    """Observed its generation, every desired replica updated, every updated one available."""
    spec, status = _parts(obj)
    path = "status"
    if get_int(status, "observedGeneration", path) != generation(obj):
        return False
    desired = _desired_replicas(spec)
    updated = get_int(status, "updatedReplicas", path)
    if desired is not None and updated < desired:
        return False
    return get_int(status, "availableReplicas", path) >= updated


def health_replica_set(obj: JSONObject) -> bool:
    spec, status = _parts(obj)
    path = "status"
    if get_int(status, "observedGeneration", path) != generation(obj):
        return False
    desired = _desired_replicas(spec)
    return desired is None or get_int(status, "availableReplicas", path) >= desired


def health_daemon_set(obj: JSONObject) -> bool:
    _, status = _parts(obj)
    path = "status"
    if get_int(status, "observedGeneration", path) != generation(obj):
        return False
    updated = get_int(status, "updatedNumberScheduled", path)
    if updated < get_int(status, "desiredNumberScheduled", path):
        return False
    return get_int(status, "numberAvailable", path) >= updated


def _has_ingress_address(status: Mapping[str, Any], path: str) -> bool:
    load_balancer = get_map(status, "loadBalancer", path)
    entries = get_maps(load_balancer, "ingress", f"{path}.loadBalancer")
    return any(get_str(entry, "hostname", path) or get_str(entry, "ip", path) for entry in entries)


def health_service(obj: JSONObject) -> bool:
    """Healthy unless a LoadBalancer Service has no ingress address yet."""
    spec, status = _parts(obj)
    if get_str(spec, "type", "spec") != "LoadBalancer":
        return True
    return _has_ingress_address(status, "status")


def health_ingress(obj: JSONObject) -> bool:
    _, status = _parts(obj)
    return _has_ingress_address(status, "status")


def health_persistent_volume_claim(obj: JSONObject) -> bool:
    _, status = _parts(obj)
    return get_str(status, "phase", "status") == "Bound"


def health_pod(obj: JSONObject) -> bool:
    """Succeeded, or Running with the Ready condition True."""
    _, status = _parts(obj)
    path = "status"
    phase = get_str(status, "phase", path)
    if phase == "Succeeded":
        return True
    if phase != "Running":
        return False
    for condition in get_maps(status, "conditions", path):
        if get_str(condition, "type", path) == "Ready":
            return get_str(condition, "status", path) == "True"
    return False


def health_pod_disruption_budget(obj: JSONObject) -> bool:
    _, status = _parts(obj)
    path = "status"
    return get_int(status, "currentHealthy", path) >= get_int(status, "desiredHealthy", path)


HEALTH: dict[Target, HealthFn] = {
    ("apps/v1", "Deployment"): health_workload,
    ("apps/v1", "StatefulSet"): health_workload,
    ("apps/v1", "ReplicaSet"): health_replica_set,
    ("apps/v1", "DaemonSet"): health_daemon_set,
    ("v1", "Service"): health_service,
    ("networking.k8s.io/v1", "Ingress"): health_ingress,
    ("v1", "PersistentVolumeClaim"): health_persistent_volume_claim,
    ("v1", "Pod"): health_pod,
    ("policy/v1", "PodDisruptionBudget"): health_pod_disruption_budget,
}
