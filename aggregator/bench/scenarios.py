"""Benchmark scenarios: Deployment templates and member reports sent in timed waves.

A wave is every report sent at one moment (one batch per member cluster). Every member status
is a Deployment status at some version; versions only grow, so an aggregated status never
returns to an earlier value and each change can be told apart from the previous ones.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from aggregator.devcluster import sample_deployment
from aggregator.model import Health, MemberItem, ResourceKey

API_VERSION = "apps/v1"
KIND = "Deployment"
REPLICAS = 100  # per member; versions stay at or below it (readyReplicas <= replicas)
SPAM_REPORTS = 7
TICK_S = 0.1

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Report:
    """Member ``cluster`` reports resource ``resource`` at status version ``version``."""

    resource: int
    cluster: int
    version: int


@dataclass(frozen=True)
class Wave:
    at_s: float  # seconds after the first wave
    reports: tuple[Report, ...]

    def by_cluster(self) -> list[list[Report]]:
        """The reports grouped per member cluster (one agent batch each), in cluster order."""
        groups: dict[int, list[Report]] = {}
        for report in self.reports:
            groups.setdefault(report.cluster, []).append(report)
        return [groups[c] for c in sorted(groups)]


@dataclass(frozen=True)
class Scenario:
    name: str
    resources: int
    clusters: int
    waves: tuple[Wave, ...]
    preload: bool  # every item starts at version 0 with the template's status already written
    churn_per_s: float = 0.0  # label updates per second by another client while waves are sent

    @property
    def reports(self) -> int:
        return sum(len(wave.reports) for wave in self.waves)

    def preload_wave(self) -> Wave:
        return Wave(
            0.0, tuple(Report(r, c, 0) for c in range(self.clusters) for r in range(self.resources))
        )


@dataclass(frozen=True)
class Sizes:
    """How big each scenario is, and how often each run is repeated."""

    name: str
    rounds: int  # repetitions of every run
    clusters: int
    unchanged_resources: int
    unchanged_rounds: int
    unchanged_interval_s: float
    steady_resources: int
    steady_duration_s: float
    change_interval_s: float  # between two changes of one resource's aggregated status
    spam_resources: int
    burst_resources: int
    churn_per_s: float
    fleet_resources: int
    fleet_clusters: int
    fleet_stagger_s: float  # between two clusters' reports in the fleet scenario
    ingest_items: int
    timeout_s: float
    replica_resources: int  # the replicas figure: templates changed by each burst
    replica_waves: int  # bursts per replica count (the median is reported)


TINY = Sizes("tiny", 1, 3, 40, 3, 0.2, 20, 1.0, 0.25, 20, 60, 40.0, 10, 4, 0.1, 4_000, 60.0, 50, 2)
QUICK = Sizes(
    "quick", 3, 3, 40, 3, 0.3, 30, 2.0, 1.0, 30, 100, 20.0, 15, 6, 0.1, 20_000, 120.0, 500, 2
)
FULL = Sizes(
    "full",
    5,
    3,
    1_000,
    10,
    1.0,
    1_000,
    30.0,
    2.0,
    1_000,
    3_000,
    200.0,
    3_000,
    50,
    1.0,
    100_000,
    180.0,
    5_000,
    3,
)


def template_name(resource: int) -> str:
    return f"r-{resource:05d}"


def cluster_name(cluster: int) -> str:
    return f"member-{cluster + 1}"


def template(namespace: str, resource: int) -> Obj:
    return sample_deployment(template_name(resource), namespace, REPLICAS)


def member_status(version: int) -> Obj:
    """The status member clusters report at ``version`` (ready replicas climb with it)."""
    return {
        "replicas": REPLICAS,
        "updatedReplicas": REPLICAS,
        "readyReplicas": version,
        "availableReplicas": version,
        "observedGeneration": 1,
    }


@functools.cache
def aggregated_status_item(cluster: int, version: int) -> Obj:
    """A report in Karmada's AggregatedStatusItem shape, built as the service builds it from a
    stored item (generation 1 everywhere: every member caught up). Shared: never mutate it."""
    item = MemberItem(
        cluster=cluster_name(cluster),
        key=ResourceKey(API_VERSION, KIND, "", ""),  # not part of the item's shape
        status=member_status(version),
        health=Health.HEALTHY if version == REPLICAS else Health.UNHEALTHY,
        generation=1,
        observed_generation=1,
        template_generation=1,
    )
    return item.aggregated_status_item()


def unchanged(sizes: Sizes) -> Scenario:
    """Every item reported at the same version again and again; only the first round counts."""
    reports = tuple(
        Report(r, c, REPLICAS)
        for c in range(sizes.clusters)
        for r in range(sizes.unchanged_resources)
    )
    waves = tuple(
        Wave(k * sizes.unchanged_interval_s, reports) for k in range(sizes.unchanged_rounds)
    )
    return Scenario("unchanged", sizes.unchanged_resources, sizes.clusters, waves, preload=False)


def steady(sizes: Sizes, name: str = "steady", churn_per_s: float = 0.0) -> Scenario:
    """Each item changes once per ``clusters * change_interval_s``, phases spread evenly so a
    resource's members change ``change_interval_s`` apart and the load is flat over time."""
    resources, clusters = sizes.steady_resources, sizes.clusters
    period = sizes.change_interval_s * clusters
    total = resources * clusters
    ticks: dict[int, list[Report]] = {}
    for c in range(clusters):
        for r in range(resources):
            at = (c * resources + r) / total * period
            version = 0
            while at < sizes.steady_duration_s:
                version += 1
                ticks.setdefault(round(at / TICK_S), []).append(Report(r, c, version))
                at += period
    if max((rep.version for reps in ticks.values() for rep in reps), default=0) > REPLICAS:
        raise ValueError("steady_duration_s is too long for the status versions")
    waves = tuple(Wave(tick * TICK_S, tuple(ticks[tick])) for tick in sorted(ticks))
    return Scenario(name, resources, clusters, waves, preload=True, churn_per_s=churn_per_s)


def spam(sizes: Sizes) -> Scenario:
    """Seven reports per resource within a second from one member (pod phases)."""
    resources = sizes.spam_resources
    waves = tuple(
        Wave(k / SPAM_REPORTS, tuple(Report(r, 0, k + 1) for r in range(resources)))
        for k in range(SPAM_REPORTS)
    )
    return Scenario("spam", resources, sizes.clusters, waves, preload=True)


def burst(sizes: Sizes) -> Scenario:
    """Every item of every resource changes at once (a fleet-wide rollout)."""
    resources = sizes.burst_resources
    reports = tuple(Report(r, c, 1) for c in range(sizes.clusters) for r in range(resources))
    return Scenario("burst", resources, sizes.clusters, (Wave(0.0, reports),), preload=True)


def fleet(sizes: Sizes) -> Scenario:
    """A fleet: templates start without status and every member cluster's agent reports its
    items in turn (``fleet_stagger_s`` apart); then a rolling update reaches the clusters in
    turn, changing every item of a cluster at once."""
    resources, clusters = sizes.fleet_resources, sizes.fleet_clusters
    stagger = sizes.fleet_stagger_s
    waves = [
        Wave(
            (phase * (clusters + 1) + c) * stagger,
            tuple(Report(r, c, phase + 1) for r in range(resources)),
        )
        for phase in range(2)
        for c in range(clusters)
    ]
    return Scenario("fleet", resources, clusters, tuple(waves), preload=False)


def contention(sizes: Sizes) -> Scenario:
    """``steady`` while another client keeps updating the templates' labels."""
    return steady(sizes, "contention", sizes.churn_per_s)


SCENARIOS = {
    "unchanged": unchanged,
    "steady": steady,
    "spam": spam,
    "burst": burst,
    "contention": contention,
    "fleet": fleet,
}


def build(sizes: Sizes, names: list[str] | None = None) -> list[Scenario]:
    return [SCENARIOS[name](sizes) for name in (names or list(SCENARIOS))]
