"""The values that flow through the pipeline: resource keys and member items."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

import orjson

from aggregator.normalize import same_json


class ResourceKey(NamedTuple):
    """One resource template in the control plane (a tuple: hashed and compared in C)."""

    api_version: str
    kind: str
    namespace: str
    name: str

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind}.{self.api_version} {where}"


class Health(enum.StrEnum):
    HEALTHY = "Healthy"
    UNHEALTHY = "Unhealthy"
    UNKNOWN = "Unknown"


class MemberItem:
    """The latest report of one cluster for one resource.

    The status is held as the JSON bytes it was reported in (validated, a fraction of the
    memory of the decoded value); ``status`` decodes it on each access."""

    __slots__ = (
        "applied",
        "applied_message",
        "cluster",
        "generation",
        "health",
        "key",
        "observed_generation",
        "received_at",
        "removed",
        "sequence",
        "size",
        "status_json",
        "template_generation",
        "uid",
    )

    def __init__(
        self,
        cluster: str,
        key: ResourceKey,
        status: dict[str, Any] | None = None,
        applied: bool = True,
        applied_message: str = "",
        health: Health = Health.UNKNOWN,
        generation: int | None = None,
        observed_generation: int | None = None,
        template_generation: int | None = None,
        sequence: int = 0,
        removed: bool = False,
        uid: str = "",
        received_at: float = 0.0,
        size: int = 0,  # bytes charged to the cluster's quota
        *,
        status_json: bytes | None = None,
    ) -> None:
        """Give the status either decoded (``status``) or as validated JSON (``status_json``)."""
        self.cluster = cluster
        self.key = key
        self.status_json = status_json if status is None else orjson.dumps(status)
        self.applied = applied
        self.applied_message = applied_message
        self.health = health
        self.generation = generation
        self.observed_generation = observed_generation
        self.template_generation = template_generation
        self.sequence = sequence
        self.removed = removed
        self.uid = uid
        self.received_at = received_at
        self.size = size

    @property
    def status(self) -> dict[str, Any] | None:
        """The status, decoded (a new object each time)."""
        if self.status_json is None:
            return None
        value: dict[str, Any] = orjson.loads(self.status_json)
        return value

    def _identity(self) -> tuple[Any, ...]:
        return (
            self.cluster,
            self.key,
            self.status,
            self.applied,
            self.applied_message,
            self.health,
            self.generation,
            self.observed_generation,
            self.template_generation,
            self.sequence,
            self.removed,
            self.uid,
        )

    def __eq__(self, other: object) -> bool:
        """Equal in everything but arrival time and quota size."""
        if not isinstance(other, MemberItem):
            return NotImplemented
        return self._identity() == other._identity()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"MemberItem(cluster={self.cluster!r}, key={self.key!r}, status={self.status!r}, "
            f"health={self.health.value}, sequence={self.sequence}, removed={self.removed})"
        )

    def same_content(self, other: MemberItem) -> bool:
        """Whether a new report says nothing new (sequence and arrival time aside)."""
        return (
            self.applied == other.applied
            and self.applied_message == other.applied_message
            and self.health == other.health
            and self.generation == other.generation
            and self.observed_generation == other.observed_generation
            and self.template_generation == other.template_generation
            and (self.status_json == other.status_json or same_json(self.status, other.status))
        )

    def aggregated_status_item(self) -> dict[str, Any]:
        """This item in Karmada's AggregatedStatusItem JSON shape.

        Generations reported beside the status are folded into it the way Karmada's reflect step
        stores them (``generation``, ``observedGeneration``, ``resourceTemplateGeneration``), so
        interpreters see what they would see in Karmada. Values inside the status win.
        """
        item: dict[str, Any] = {"clusterName": self.cluster}
        if not self.applied:
            item["applied"] = False
            if self.applied_message:
                item["appliedMessage"] = self.applied_message
            item["health"] = Health.UNKNOWN.value
            return item
        item["applied"] = True
        item["health"] = self.health.value
        status = self.status  # decoded afresh: ours to extend
        if status is not None:
            if self.generation is not None and "generation" not in status:
                status["generation"] = self.generation
            if self.observed_generation is not None and "observedGeneration" not in status:
                status["observedGeneration"] = self.observed_generation
            if self.template_generation is not None and "resourceTemplateGeneration" not in status:
                status["resourceTemplateGeneration"] = self.template_generation
            item["status"] = status
        return item
