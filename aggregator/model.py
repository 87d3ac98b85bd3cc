"""The values that flow through the pipeline: resource keys and member items."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from aggregator.normalize import same_json


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    """One resource template in the control plane."""

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


@dataclass(slots=True)
class MemberItem:
    """The latest report of one cluster for one resource."""

    cluster: str
    key: ResourceKey
    status: dict[str, Any] | None
    applied: bool = True
    applied_message: str = ""
    health: Health = Health.UNKNOWN
    generation: int | None = None
    observed_generation: int | None = None
    template_generation: int | None = None
    sequence: int = 0
    removed: bool = False
    uid: str = ""
    received_at: float = field(default=0.0, compare=False)
    size: int = field(default=0, compare=False)  # bytes charged to the cluster's quota

    def same_content(self, other: MemberItem) -> bool:
        """Whether a new report says nothing new (sequence and arrival time aside)."""
        return (
            same_json(self.status, other.status)
            and self.applied == other.applied
            and self.applied_message == other.applied_message
            and self.health == other.health
            and self.generation == other.generation
            and self.observed_generation == other.observed_generation
            and self.template_generation == other.template_generation
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
        if self.status is not None:
            status = self.status
            extra = {
                name: value
                for name, value in (
                    ("generation", self.generation),
                    ("observedGeneration", self.observed_generation),
                    ("resourceTemplateGeneration", self.template_generation),
                )
                if value is not None and name not in status
            }
            item["status"] = {**status, **extra} if extra else status
        return item
