"""Replay a scenario offline: the aggregated status after every wave, and what a perfect writer
would write (one write per distinct consecutive aggregated status of each template)."""

from __future__ import annotations

from dataclasses import dataclass

from aggregator.bench.scenarios import (
    API_VERSION,
    KIND,
    Obj,
    Scenario,
    aggregated_status_item,
    template_name,
)
from aggregator.normalize import comparable, normalize
from interpreters import Registry


@dataclass(frozen=True)
class Change:
    wave: int
    status: Obj  # normalised: the form that gets written
    comparable: Obj  # the form statuses are compared in


@dataclass(frozen=True)
class Replay:
    initial: list[Obj]  # per resource, the status written at set-up ({} unless preloaded)
    changes: list[list[Change]]  # per resource, every effective change in wave order
    final: list[Obj]  # per resource, the comparable status every strategy must end with

    @property
    def effective_changes(self) -> int:
        return sum(len(changes) for changes in self.changes)

    def by_wave(self, waves: int) -> list[list[tuple[int, Obj]]]:
        """Per wave, the (resource, status) pairs a perfect writer writes."""
        result: list[list[tuple[int, Obj]]] = [[] for _ in range(waves)]
        for resource, changes in enumerate(self.changes):
            for change in changes:
                result[change.wave].append((resource, change.status))
        return result


def replay(scenario: Scenario, registry: Registry) -> Replay:
    """Apply the waves in order with the same interpreter the strategies use."""
    items: list[dict[int, Obj]] = [{} for _ in range(scenario.resources)]
    current: list[Obj] = [{} for _ in range(scenario.resources)]

    def aggregate(resource: int) -> Obj:
        obj = {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": template_name(resource), "generation": 1},
            "status": current[resource],
        }
        members = items[resource]
        result = registry.aggregate(obj, [members[c] for c in sorted(members)])
        status: Obj = normalize(result.get("status") or {})
        return status

    if scenario.preload:
        for report in scenario.preload_wave().reports:
            items[report.resource][report.cluster] = aggregated_status_item(
                report.cluster, report.version
            )
        current = [aggregate(r) for r in range(scenario.resources)]
    initial = list(current)
    seen = [comparable(status) for status in current]
    changes: list[list[Change]] = [[] for _ in range(scenario.resources)]
    for index, wave in enumerate(scenario.waves):
        touched: set[int] = set()
        for report in wave.reports:
            items[report.resource][report.cluster] = aggregated_status_item(
                report.cluster, report.version
            )
            touched.add(report.resource)
        for resource in sorted(touched):
            status = aggregate(resource)
            current[resource] = status
            compared = comparable(status)
            if compared != seen[resource]:
                seen[resource] = compared
                changes[resource].append(Change(index, status, compared))
    return Replay(initial, changes, seen)
