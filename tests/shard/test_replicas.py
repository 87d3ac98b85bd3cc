"""Three sharded replicas (real processes) and three agents against the real API server.

Every template converges; each one is written by exactly the replica the ring names; a
SIGKILLed replica's resources are taken over once its Lease expires and nothing is lost; when it
comes back the resources rebalance to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.client import Reporter, ReporterMetrics, StatusClient
from aggregator.devcluster import LocalAPIServer, sample_deployment
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.shard.ownership import ring_key
from aggregator.shard.processes import ReplicaProcess
from aggregator.shard.ring import Ring
from tests.helpers import eventually

RESOURCES = int(os.environ.get("STATUSAGG_SHARD_RESOURCES", "1500"))
CLUSTERS = ("east", "west", "north")
REPLICAS = ("r-0", "r-1", "r-2")
LEASE_S = 3


class Fleet:
    """Each cluster's truth: readyReplicas per resource; the agents report from it."""

    def __init__(self, namespace: str, names: list[str]) -> None:
        self.namespace = namespace
        self.names = names
        self.ready = {(c, n): 1 for c in CLUSTERS for n in names}
        self.reporters: dict[str, Reporter] = {}

    def item(self, cluster: str, name: str) -> pb.MemberStatus:
        ready = self.ready[(cluster, name)]
        status = {"replicas": 5, "updatedReplicas": 5, "readyReplicas": ready}
        return pb.MemberStatus(
            cluster=cluster,
            resource=pb.ResourceRef(
                api_version="apps/v1", kind="Deployment", namespace=self.namespace, name=name
            ),
            status_json=json.dumps(status).encode(),
            applied=True,
            health=pb.HEALTH_HEALTHY,
            generation=1,
            observed_generation=1,
            template_generation=1,
        )

    def snapshot(self, cluster: str) -> list[pb.MemberStatus]:
        return [self.item(cluster, name) for name in self.names]

    def change(self, names: list[str], ready: int) -> None:
        for cluster in CLUSTERS:
            for name in names:
                self.ready[(cluster, name)] = ready
                self.reporters[cluster].offer(self.item(cluster, name))

    def expected(self, name: str) -> int:
        return sum(self.ready[(c, name)] for c in CLUSTERS)


def owner_of(ring: Ring, namespace: str, name: str) -> str | None:
    return ring.owner(ring_key("apps/v1", "Deployment", namespace, name))


def status_managers(obj: dict[str, Any]) -> set[str]:
    """Who owns fields of the status: each writer keeps the fields it last changed."""
    return {
        str(entry["manager"])
        for entry in obj["metadata"].get("managedFields", [])
        if entry.get("subresource") == "status" and entry.get("operation") == "Update"
    }


@pytest.fixture
def replicas(
    apiserver: LocalAPIServer, namespace: str, tmp_path: Path
) -> Iterator[dict[str, ReplicaProcess]]:
    group = f"g-{uuid.uuid4().hex[:6]}"
    started = {
        r: ReplicaProcess(
            r,
            apiserver.kubeconfig,
            namespace,
            group,
            tmp_path / f"{r}.log",
            ["--min-write-interval", "0.2", "--handover", "8"],
            lease_duration_s=LEASE_S,
        )
        for r in REPLICAS
    }
    for replica in started.values():
        replica.start()
    try:
        yield started
    finally:
        for replica in started.values():
            replica.stop()


@pytest.fixture
async def fleet(
    kube: KubeClient, namespace: str, replicas: dict[str, ReplicaProcess]
) -> AsyncIterator[Fleet]:
    names = [f"app-{i:04d}" for i in range(RESOURCES)]
    limit = asyncio.Semaphore(32)

    async def create(name: str) -> None:
        async with limit:
            await kube.create(DEPLOYMENTS, sample_deployment(name, namespace, 9))

    await asyncio.gather(*(create(n) for n in names))
    fleet = Fleet(namespace, names)
    addresses = [r.address for r in replicas.values()]
    async with contextlib.AsyncExitStack() as stack:
        tasks = []
        for index, cluster in enumerate(CLUSTERS):
            # each agent prefers another replica and fails over to the next (pick_first)
            order = addresses[index:] + addresses[:index]
            channel = await stack.enter_async_context(
                grpc.aio.insecure_channel("ipv4:" + ",".join(order))
            )
            reporter = Reporter(
                StatusClient.over(channel),
                cluster,
                lambda c=cluster: fleet.snapshot(c),  # type: ignore[misc]
                ReporterMetrics(),
                heartbeat_s=0.5,
                max_backoff_s=1.0,
            )
            fleet.reporters[cluster] = reporter
            tasks.append(asyncio.create_task(reporter.run()))
        try:
            yield fleet
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def wrong_statuses(kube: KubeClient, fleet: Fleet) -> list[str]:
    listing = await kube.list(DEPLOYMENTS, fleet.namespace)
    ready = {
        i["metadata"]["name"]: (i.get("status") or {}).get("readyReplicas", 0)
        for i in listing["items"]
    }
    return [
        f"{n}={ready.get(n)}(want {fleet.expected(n)})"
        for n in fleet.names
        if ready.get(n) != fleet.expected(n)
    ]


async def converge(kube: KubeClient, fleet: Fleet, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while wrong := await wrong_statuses(kube, fleet):
        assert time.monotonic() < deadline, f"{len(wrong)} templates not converged: {wrong[:10]}"
        await asyncio.sleep(0.25)


async def members(replica: ReplicaProcess) -> float | None:
    return await replica.metric("statusagg_shard_members")


async def test_three_replicas_share_converge_take_over_and_rebalance(
    kube: KubeClient, namespace: str, replicas: dict[str, ReplicaProcess], fleet: Fleet
) -> None:
    everyone = list(replicas.values())

    async def all_see(count: int, among: list[ReplicaProcess]) -> bool:
        return all([await members(r) == count for r in among])

    await eventually(lambda: all_see(3, everyone), within=60)
    full_ring = Ring(REPLICAS)

    # 1. every template converges, each written only by the replica the ring names
    listing = await kube.list(DEPLOYMENTS, namespace)
    writers: dict[str, set[str]] = {n: set() for n in fleet.names}
    watch_done = asyncio.Event()

    async def record_writers() -> None:
        rv = listing["metadata"]["resourceVersion"]
        while not watch_done.is_set():
            async for event in kube.watch(DEPLOYMENTS, rv, namespace=namespace, timeout_seconds=60):
                obj = event["object"]
                rv = obj["metadata"].get("resourceVersion", rv)
                if event["type"] == "MODIFIED":
                    writers[obj["metadata"]["name"]] |= status_managers(obj)
                if watch_done.is_set():
                    return

    watcher = asyncio.create_task(record_writers())
    try:
        await converge(kube, fleet)
        fleet.change(fleet.names[::2], 2)
        await converge(kube, fleet)
    finally:
        watch_done.set()
        await kube.patch(
            DEPLOYMENTS, namespace, fleet.names[0], {"metadata": {"labels": {"x": "1"}}}
        )
        await asyncio.wait_for(watcher, 30)
    assert all(writers.values()), "every template was written"
    misplaced = {
        n: w for n, w in writers.items() if w != {f"statusagg/{owner_of(full_ring, namespace, n)}"}
    }
    assert not misplaced, (
        f"written by another replica than the owner: {list(misplaced.items())[:5]}"
    )
    per_replica = {r: sum(1 for w in writers.values() if w == {f"statusagg/{r}"}) for r in REPLICAS}
    assert all(n > RESOURCES // 6 for n in per_replica.values()), per_replica
    forwarded = [
        await r.metric('statusagg_shard_forwarded_items_total{call="sync"}') for r in everyone
    ]
    assert sum(f or 0 for f in forwarded) > 0, "agents' Syncs were split among the owners"

    # 2. SIGKILL one replica: its resources are taken over once its Lease expires
    victim = replicas["r-2"]
    survivors = [replicas["r-0"], replicas["r-1"]]
    victim.kill()
    killed_at = time.monotonic()
    await eventually(lambda: all_see(2, survivors), within=6 * LEASE_S)
    takeover_s = time.monotonic() - killed_at
    assert takeover_s < LEASE_S + 2.5, f"takeover after {takeover_s:.1f}s"
    victims_keys = [n for n in fleet.names if owner_of(full_ring, namespace, n) == "r-2"]
    fleet.change(victims_keys, 3)
    fleet.change(fleet.names[1::2], 4)  # non-zero: a zero would drop the field and its owner
    await converge(kube, fleet)
    two_ring = Ring(["r-0", "r-1"])
    listing = await kube.list(DEPLOYMENTS, namespace)
    by_name = {i["metadata"]["name"]: i for i in listing["items"]}
    for name in victims_keys:
        heir = f"statusagg/{owner_of(two_ring, namespace, name)}"
        managers = status_managers(by_name[name])
        assert heir in managers, (name, managers)
        assert managers <= {heir, "statusagg/r-2"}, (name, managers)

    # 3. bring it back: the ring rebalances and it writes its resources again
    victim.start()
    await eventually(lambda: all_see(3, everyone), within=60)
    fleet.change(fleet.names, 1)
    await converge(kube, fleet)
    listing = await kube.list(DEPLOYMENTS, namespace)
    managers = {i["metadata"]["name"]: status_managers(i) for i in listing["items"]}
    misplaced_after = [
        n
        for n in fleet.names
        if f"statusagg/{owner_of(full_ring, namespace, n)}" not in managers[n]
    ]
    assert not misplaced_after, misplaced_after[:5]
