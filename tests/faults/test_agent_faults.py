"""Faults between member agents and the service: an agent killed and restarted while its cluster
changes, and an agent whose gRPC connection keeps flapping. Members are real API servers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aggregator.agent.run import Agent, AgentOptions, running_agent
from aggregator.devcluster import LocalAPIServer, sample_deployment
from aggregator.kube import KubeClient, load_cluster_access
from aggregator.kube.resources import DEPLOYMENTS, NAMESPACES
from aggregator.serve import RunningService
from tests.faults.conftest import Scale
from tests.faults.proxy import FaultProxy
from tests.faults.report import FaultRecord
from tests.faults.workload import (
    SUMMED,
    counter,
    create_templates,
    labelled_total,
    lost_updates,
    member_status,
    peaks,
    service_for,
    summed,
    until,
)
from tests.helpers import MEMBER_CLUSTERS as CLUSTERS

PROPAGATED = {"work.karmada.io/name": "app-work", "resourcetemplate.karmada.io/generation": "1"}


class Members:
    """Clients of the member API servers, the objects the test keeps there, and their truth."""

    def __init__(self, servers: dict[str, LocalAPIServer], namespace: str) -> None:
        self.servers = servers
        self.namespace = namespace
        self.clients = {
            c: KubeClient(load_cluster_access(s.kubeconfig), qps=0) for c, s in servers.items()
        }
        self.changes = 0
        self.present: dict[str, set[str]] = {c: set() for c in servers}

    async def close(self) -> None:
        for client in self.clients.values():
            await client.close()

    async def create(self, cluster: str, name: str, ready: int) -> None:
        client = self.clients[cluster]
        await client.create(DEPLOYMENTS, sample_deployment(name, self.namespace, 2, PROPAGATED))
        self.present[cluster].add(name)
        await self.set_ready(cluster, name, ready)

    async def set_ready(self, cluster: str, name: str, ready: int) -> None:
        client = self.clients[cluster]
        live = await client.get(DEPLOYMENTS, self.namespace, name)
        status = {"observedGeneration": live["metadata"]["generation"], **member_status(ready)}
        await client.replace_status(DEPLOYMENTS, {**live, "status": status})
        self.changes += 1

    async def delete(self, cluster: str, name: str) -> None:
        await self.clients[cluster].delete(DEPLOYMENTS, self.namespace, name)
        self.present[cluster].discard(name)
        self.changes += 1

    async def truth(self, names: list[str]) -> dict[str, dict[str, int]]:
        """The aggregate each template should have, computed from the members' objects now."""
        totals = {name: dict.fromkeys(SUMMED, 0) for name in names}
        for client in self.clients.values():
            for obj in (await client.list(DEPLOYMENTS, self.namespace))["items"]:
                name = obj["metadata"]["name"]
                if name in totals:
                    for key, value in summed(obj.get("status")).items():
                        totals[name][key] += value
        return totals


@contextlib.asynccontextmanager
async def member_objects(
    servers: dict[str, LocalAPIServer], kube: KubeClient, namespace: str, names: list[str]
) -> AsyncIterator[Members]:
    """Templates in the control plane and one propagated copy per member, all with a status."""
    await create_templates(kube, namespace, names)
    fleet = Members(servers, namespace)
    try:
        for cluster, client in fleet.clients.items():
            await client.create(NAMESPACES, {"metadata": {"name": namespace}})
            for name in names:
                await fleet.create(cluster, name, 1)
        yield fleet
    finally:
        await fleet.close()


def agent_options(
    cluster: str, server: LocalAPIServer, address: str, heartbeat_s: float = 0.5
) -> AgentOptions:
    return AgentOptions(
        cluster=cluster,
        server=address,
        kinds=[("apps/v1", "Deployment")],
        kubeconfig=Path(server.kubeconfig),
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        heartbeat_s=heartbeat_s,
    )


def start_agent_process(
    cluster: str, server: LocalAPIServer, address: str, log: Path
) -> subprocess.Popen[bytes]:
    """``statusagg agent`` as its own process, so it can be SIGKILLed."""
    command = [
        sys.executable,
        "-m",
        "aggregator.cli",
        "agent",
        "--insecure",
        "--cluster",
        cluster,
        "--kubeconfig",
        str(server.kubeconfig),
        "--server",
        address,
        "--metrics-listen",
        "127.0.0.1:0",
    ]
    with open(log, "ab") as out:
        return subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


async def test_agent_killed_and_restarted(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    members: dict[str, LocalAPIServer],
    tmp_path: Path,
    scale: Scale,
    fault: FaultRecord,
) -> None:
    """SIGKILL an agent in the middle of a burst of changes, change its cluster while it is
    down (statuses, a deletion, a new object), restart it: its Sync replaces what the service
    held for that cluster."""
    fault.name = "agent killed (SIGKILL) mid-burst and restarted"
    names = [f"app-{i:03d}" for i in range(max(4, scale.resources // 2))]
    spare = [f"new-{i:03d}" for i in range(scale.restarts)]
    async with (
        member_objects(members, kube, namespace, names) as fleet,
        service_for(apiserver.kubeconfig, events=False) as (svc, _),
    ):
        await create_templates(kube, namespace, spare)
        killed = CLUSTERS[0]
        log = tmp_path / "agent.log"
        process = start_agent_process(killed, members[killed], svc.address, log)
        try:
            async with running_agent(agent_options(CLUSTERS[1], members[CLUSTERS[1]], svc.address)):
                await fault.converge(lambda: _lost(kube, fleet, names + spare))
                for round_ in range(scale.restarts):
                    accepted = _accepted(svc)
                    burst = asyncio.create_task(_burst(fleet, killed, 10 + round_))
                    # kill it once the burst is arriving at the service
                    await until(lambda a=accepted: _accepted(svc) > a)
                    process.send_signal(signal.SIGKILL)
                    await asyncio.to_thread(process.wait)
                    await burst
                    fault.injected += 1
                    # the cluster changes while its agent is down
                    await fleet.set_ready(killed, names[0], 100 + round_)
                    await fleet.delete(killed, names[1 + round_ % (len(names) - 1)])
                    await fleet.create(killed, spare[round_], 7)
                    await fleet.set_ready(CLUSTERS[1], names[-1], 50 + round_)
                    process = start_agent_process(killed, members[killed], svc.address, log)
                    await fault.converge(lambda: _lost(kube, fleet, names + spare))
        finally:
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait)
        metrics = svc.service.metrics
        fault.figures.update(
            {
                "kills": fault.injected,
                "member changes": fleet.changes,
                "items accepted": int(_accepted(svc)),
                "status writes": int(counter(metrics.writes, mode="update", result="ok")),
            }
        )
        assert fault.injected == scale.restarts


async def test_agent_connection_flaps(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    members: dict[str, LocalAPIServer],
    scale: Scale,
    fault: FaultRecord,
) -> None:
    """The agent's gRPC connection is slow, reset again and again, and refused for a while;
    meanwhile statuses change, some back to a value reported before, while the report of the
    value in between is still on the wire."""
    fault.name = "agent gRPC connection flapping (slow, reset, refused)"
    names = [f"app-{i:03d}" for i in range(max(4, scale.resources // 2))]
    flappy = CLUSTERS[0]
    async with (
        member_objects(members, kube, namespace, names) as fleet,
        service_for(apiserver.kubeconfig, events=False) as (svc, _),
        FaultProxy.to(svc.address, latency_s=0.05) as proxy,
    ):
        async with (
            running_agent(agent_options(flappy, members[flappy], proxy.address)) as agent,
            running_agent(agent_options(CLUSTERS[1], members[CLUSTERS[1]], svc.address)),
        ):
            await fault.converge(lambda: _lost(kube, fleet, names))
            metrics = agent.metrics
            pending = peaks({"pending": lambda: len(agent.reporter._pending)})
            async with pending as peak:
                await _flap(fleet, agent, proxy, names, namespace, scale, fault)
            await fault.converge(lambda: _lost(kube, fleet, names))
            fault.figures.update(
                {
                    "member changes": fleet.changes,
                    "connections reset": proxy.counters.dropped,
                    "connections refused": proxy.counters.refused,
                    "agent call errors": int(labelled_total(metrics.rpc_errors)),
                    "agent syncs": int(counter(metrics.syncs)),
                    "peak agent pending items": peak["pending"],
                }
            )
        assert labelled_total(metrics.rpc_errors) > 0, "the flaps reached the agent"
        # the agent holds at most one pending item per member object
        assert peak["pending"] <= len(names)


async def _flap(
    fleet: Members,
    agent: Agent,
    proxy: FaultProxy,
    names: list[str],
    namespace: str,
    scale: Scale,
    fault: FaultRecord,
) -> None:
    flappy = agent.options.cluster
    for flap in range(scale.flaps):
        name = names[flap % len(names)]
        # a change back to the previous value while the one in between is in flight
        await fleet.set_ready(flappy, name, 2)
        await until(lambda n=name: _sent(agent, namespace, n, 2))
        await fleet.set_ready(flappy, name, 1)
        accepted = proxy.counters.accepted
        if flap % 4 == 3:
            # down for a while: reset, and reconnecting is refused
            refused = proxy.counters.refused
            proxy.refusing = True
            proxy.drop()
            await fleet.set_ready(flappy, names[(flap + 1) % len(names)], 3 + flap)
            await until(lambda r=refused: proxy.counters.refused > r)
            proxy.refusing = False
        else:
            proxy.drop()
            await fleet.set_ready(flappy, names[(flap + 1) % len(names)], 3 + flap)
        fault.injected += 1
        # the agent is connected again before the next flap
        await until(lambda a=accepted: proxy.counters.accepted > a)


async def _burst(fleet: Members, cluster: str, ready: int) -> None:
    for name in sorted(fleet.present[cluster]):
        await fleet.set_ready(cluster, name, ready)


def _accepted(svc: RunningService) -> float:
    return labelled_total(svc.service.metrics.reports, result="accepted")


def _sent(agent: Agent, namespace: str, name: str, ready: int) -> bool:
    """The agent has seen the member object with ``ready`` and taken it off its pending queue:
    the report is on the wire or answered."""
    cache = agent._caches[("apps/v1", "Deployment")]
    obj = cache.get((namespace, name))
    seen = obj is not None and (obj.get("status") or {}).get("readyReplicas") == ready
    reflected = (("apps/v1", "Deployment"), (namespace, name)) not in agent.unreflected
    return (
        seen
        and reflected
        and ("apps/v1", "Deployment", namespace, name) not in agent.reporter._pending
    )


async def _lost(kube: KubeClient, fleet: Members, names: list[str]) -> list[str]:
    return await lost_updates(kube, fleet.namespace, await fleet.truth(names))
