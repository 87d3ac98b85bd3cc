"""The Lease object a replica holds to be a member: its shape, and what a peer reads from it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aggregator.kube.client import Obj
from aggregator.kube.resources import ResourceType

LEASES = ResourceType("coordination.k8s.io", "v1", "Lease", "leases", namespaced=True)

GROUP_LABEL = "statusagg.io/group"
ADDRESS_ANNOTATION = "statusagg.io/address"
EPOCH_ANNOTATION = "statusagg.io/epoch"
CLUSTERS_ANNOTATION = "statusagg.io/clusters"  # how many member clusters the replica holds items of

_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclass(frozen=True, order=True)
class Member:
    """A live replica: its id (the Lease holder), where peers reach it, its process epoch."""

    id: str
    address: str
    epoch: str


def lease_name(group: str, replica_id: str) -> str:
    """A valid object name for the Lease of ``replica_id`` in ``group``."""
    name = re.sub(r"[^a-z0-9.-]+", "-", f"{group}-{replica_id}".lower()).strip("-.")
    return name[:253].rstrip("-.")


def micro_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime(_MICRO_TIME)


def parse_micro_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    for layout in (_MICRO_TIME, "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(value, layout).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def lease_body(
    namespace: str,
    group: str,
    member: Member,
    duration_s: int,
    now: datetime,
    base: Obj | None = None,
    clusters: int = 0,
) -> Obj:
    """The Lease held by ``member``, renewed at ``now``; ``base`` is the stored object to update."""
    meta: dict[str, Any] = dict((base or {}).get("metadata") or {})
    spec: dict[str, Any] = dict((base or {}).get("spec") or {})
    meta.update(
        name=lease_name(group, member.id),
        namespace=namespace,
        labels={**(meta.get("labels") or {}), GROUP_LABEL: group},
        annotations={
            **(meta.get("annotations") or {}),
            ADDRESS_ANNOTATION: member.address,
            EPOCH_ANNOTATION: member.epoch,
            CLUSTERS_ANNOTATION: str(clusters),
        },
    )
    meta.pop("managedFields", None)
    base_annotations = ((base or {}).get("metadata") or {}).get("annotations") or {}
    held_by_us = (
        spec.get("holderIdentity") == member.id
        and base_annotations.get(EPOCH_ANNOTATION) == member.epoch
    )
    if not held_by_us:
        spec["acquireTime"] = micro_time(now)
        spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + (base is not None)
    spec.update(
        holderIdentity=member.id, leaseDurationSeconds=duration_s, renewTime=micro_time(now)
    )
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}


def member_of(lease: Obj) -> Member | None:
    """The member a Lease names, or None if it lacks a holder or an address."""
    meta = lease.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    holder = (lease.get("spec") or {}).get("holderIdentity")
    address = annotations.get(ADDRESS_ANNOTATION)
    if not holder or not address:
        return None
    return Member(str(holder), str(address), str(annotations.get(EPOCH_ANNOTATION, "")))


def clusters_of(lease: Obj) -> int:
    """How many clusters the holder said it holds items of (0 when unknown)."""
    annotations = (lease.get("metadata") or {}).get("annotations") or {}
    try:
        return max(int(annotations.get(CLUSTERS_ANNOTATION, 0)), 0)
    except (TypeError, ValueError):
        return 0


def renewed_at(lease: Obj) -> datetime | None:
    return parse_micro_time((lease.get("spec") or {}).get("renewTime"))


def duration_of(lease: Obj) -> float:
    try:
        return float((lease.get("spec") or {}).get("leaseDurationSeconds") or 0)
    except (TypeError, ValueError):
        return 0.0
