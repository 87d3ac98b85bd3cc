"""The main job: the service with simulated member agents, against a local real kube-apiserver.

Each simulated agent plays one member cluster: it syncs its Deployments, then rolls them out
(readyReplicas climbing to spec.replicas, with repeated unchanged reports in between), through
the same gRPC API a real agent uses. At the end every template's status is checked against the
sum computed from what the agents last reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer, free_port, sample_deployment
from aggregator.kube.client import KubeClient
from aggregator.kube.config import load_cluster_access
from aggregator.kube.resources import DEPLOYMENTS, NAMESPACES
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from aggregator.shard.replica import ShardSettings

NAMESPACE = "demo"
REPLICAS = 3


def _member_status(cluster: str, name: str, ready: int, sequence: int) -> pb.MemberStatus:
    status = {
        "replicas": REPLICAS,
        "updatedReplicas": REPLICAS,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "observedGeneration": 1,
    }
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace=NAMESPACE, name=name
        ),
        status_json=json.dumps(status).encode(),
        applied=True,
        health=pb.HEALTH_HEALTHY if ready == REPLICAS else pb.HEALTH_UNHEALTHY,
        generation=1,
        observed_generation=1,
        template_generation=1,
        sequence=sequence,
    )


class SimulatedAgent:
    """One member cluster's agent: Sync at start, then batched Reports."""

    def __init__(self, cluster: str, names: list[str], address: str) -> None:
        self.cluster = cluster
        self.names = names
        self.ready = dict.fromkeys(names, 0)
        self.sequence = 0
        self.sent = 0
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = pb_grpc.StatusAggregatorStub(self._channel)

    def _items(self, names: list[str]) -> list[pb.MemberStatus]:
        self.sequence += 1
        return [_member_status(self.cluster, n, self.ready[n], self.sequence) for n in names]

    async def sync(self) -> None:
        await self._stub.Sync(pb.SyncRequest(cluster=self.cluster, items=self._items(self.names)))

    async def run(self, until: float) -> None:
        rng = random.Random(self.cluster)
        while time.monotonic() < until:
            batch = rng.sample(self.names, k=max(1, len(self.names) // 3))
            for name in batch:
                if self.ready[name] < REPLICAS and rng.random() < 0.5:
                    self.ready[name] += 1
            reply = await self._stub.Report(pb.ReportRequest(items=self._items(batch)))
            self.sent += len(batch)
            rejected = [r.reason for r in reply.results if r.outcome == r.OUTCOME_REJECTED]
            if rejected:
                print(f"{self.cluster}: rejected {rejected}", file=sys.stderr)
            await asyncio.sleep(0.2)
        self.ready = dict.fromkeys(self.names, REPLICAS)
        await self._stub.Report(pb.ReportRequest(items=self._items(self.names)))

    async def close(self) -> None:
        await self._channel.close(None)


def _counter(service_metrics: Any, name: str) -> float:
    total = 0.0
    for family in service_metrics.registry.collect():
        for sample in family.samples:
            if sample.name == name:
                total += sample.value
    return total


async def _wait_converged(kube: KubeClient, names: list[str], want: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        listing = await kube.list(DEPLOYMENTS, NAMESPACE)
        ready = {
            i["metadata"]["name"]: i.get("status", {}).get("readyReplicas", 0)
            for i in listing["items"]
        }
        if all(ready.get(n) == want for n in names):
            return True
        await asyncio.sleep(0.2)
    return False


async def run_demo(clusters: int, resources: int, duration: float, replicas: int = 1) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="statusagg-demo-"))
    server = LocalAPIServer(data_dir)
    print(f"starting a local kube-apiserver (data in {data_dir}) ...", file=sys.stderr)
    server.start()
    try:
        return await _demo(server, clusters, resources, duration, replicas)
    finally:
        server.cleanup()


def _serve_options(server: LocalAPIServer, index: int, replicas: int) -> ServeOptions:
    if replicas == 1:
        return ServeOptions(
            kubeconfig=server.kubeconfig, listen="127.0.0.1:0", metrics_listen="127.0.0.1:0"
        )
    port = free_port()
    return ServeOptions(
        kubeconfig=server.kubeconfig,
        listen=f"127.0.0.1:{port}",
        metrics_listen="127.0.0.1:0",
        settings=ServiceSettings(field_manager=f"statusagg/replica-{index}"),
        sharding=ShardSettings(
            replica_id=f"replica-{index}",
            advertise_address=f"127.0.0.1:{port}",
            namespace=NAMESPACE,
            lease_duration_s=6,
            renew_interval_s=1,
            renew_deadline_s=4,
            handover_s=2,
        ),
    )


async def _settled(services: list[RunningService]) -> None:
    """Wait until every replica sees all of them and no handover is open."""
    while True:
        views = [s.replica.ownership for s in services if s.replica is not None]
        if (
            len({o.view.id for o in views}) == 1
            and len(views[0].view.members) == len(services)
            and not any(o.handing_over for o in views)
        ):
            return
        await asyncio.sleep(0.1)


def _sum(services: list[RunningService], name: str) -> float:
    return sum(_counter(s.service.metrics, name) for s in services)


async def _demo(
    server: LocalAPIServer, clusters: int, resources: int, duration: float, replicas: int
) -> int:
    names = [f"web-{i:03d}" for i in range(resources)]
    async with (
        KubeClient(load_cluster_access(server.kubeconfig), qps=0) as kube,
        contextlib.AsyncExitStack() as stack,
    ):
        await kube.create(NAMESPACES, {"metadata": {"name": NAMESPACE}})
        for name in names:
            await kube.create(DEPLOYMENTS, sample_deployment(name, NAMESPACE, REPLICAS))
        services = [
            await stack.enter_async_context(running(_serve_options(server, i, replicas)))
            for i in range(replicas)
        ]
        for svc in services:
            print(
                f"statusagg serving gRPC on {svc.address}, metrics on "
                f"http://{svc.metrics_address}/metrics",
                file=sys.stderr,
            )
        if replicas > 1:
            await _settled(services)
            print(
                f"{replicas} replicas share the resources (Leases in {NAMESPACE})", file=sys.stderr
            )
        addresses = [svc.address for svc in services]
        agents = [
            # each agent prefers another replica, as behind a Service
            SimulatedAgent(
                f"member-{c + 1}",
                names,
                "ipv4:" + ",".join(addresses[c % replicas :] + addresses[: c % replicas]),
            )
            for c in range(clusters)
        ]
        await asyncio.gather(*(a.sync() for a in agents))
        until = time.monotonic() + duration
        runs = asyncio.gather(*(a.run(until) for a in agents))
        while not runs.done():
            await asyncio.sleep(2.0)
            print(
                f"reports {sum(a.sent for a in agents):6d}  "
                f"writes {_sum(services, 'statusagg_status_writes_total'):5.0f}  "
                f"skips {_sum(services, 'statusagg_status_skips_total'):5.0f}  "
                f"conflicts {_sum(services, 'statusagg_conflicts_total'):3.0f}  "
                f"forwarded {_sum(services, 'statusagg_shard_forwarded_items_total'):5.0f}  "
                f"queue {sum(len(s.service.queue) for s in services)}",
                file=sys.stderr,
            )
        await runs
        converged = await _wait_converged(kube, names, REPLICAS * clusters, within=30)
        for agent in agents:
            await agent.close()
        sample = await kube.get(DEPLOYMENTS, NAMESPACE, names[0])
        print(
            json.dumps(
                {"template": f"{NAMESPACE}/{names[0]}", "status": sample["status"]}, indent=2
            )
        )
        writes = _sum(services, "statusagg_status_writes_total")
        reports = sum(a.sent for a in agents)
        print(
            f"{'converged' if converged else 'NOT converged'}: {resources} Deployments x "
            f"{clusters} clusters, {reports} reports -> {writes:.0f} status writes "
            f"({replicas} replica{'s' if replicas > 1 else ''}), "
            f"{_sum(services, 'statusagg_conflicts_total'):.0f} conflicts"
        )
    return 0 if converged else 1
