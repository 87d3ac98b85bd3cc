"""Two member clusters, two running agents, one control plane: real API servers throughout."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aggregator.agent.run import AgentOptions, running_agent
from aggregator.devcluster import LocalAPIServer, free_port, sample_deployment
from aggregator.kube import KubeClient, load_cluster_access
from aggregator.kube.resources import DEPLOYMENTS, NAMESPACES
from aggregator.serve import ServeOptions, running
from aggregator.service import ServiceSettings
from tests.helpers import eventually

MEMBER_ANNOTATIONS = {
    "work.karmada.io/name": "app-work",
    "resourcetemplate.karmada.io/generation": "1",
}


@contextlib.asynccontextmanager
async def service_on(apiserver: LocalAPIServer, port: int) -> AsyncIterator[Any]:
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen=f"127.0.0.1:{port}",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        settings=ServiceSettings(workers=2, coalesce_delay_s=0.01, min_write_interval_s=0.1),
    )
    async with running(options) as svc:
        yield svc


@contextlib.asynccontextmanager
async def agents_for(members: dict[str, LocalAPIServer], port: int) -> AsyncIterator[list[Any]]:
    async with contextlib.AsyncExitStack() as stack:
        running_agents = []
        for cluster, server in members.items():
            options = AgentOptions(
                cluster=cluster,
                server=f"127.0.0.1:{port}",
                kinds=[("apps/v1", "Deployment")],
                kubeconfig=Path(server.kubeconfig),
                metrics_listen="127.0.0.1:0",
                load_plugins=False,
                heartbeat_s=0.2,
            )
            running_agents.append(await stack.enter_async_context(running_agent(options)))
        yield running_agents


async def set_member_status(kube: KubeClient, namespace: str, name: str, ready: int) -> None:
    live = await kube.get(DEPLOYMENTS, namespace, name)
    status = {
        "observedGeneration": live["metadata"]["generation"],
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }
    await kube.replace_status(DEPLOYMENTS, {**live, "status": status})


async def test_agents_aggregate_changes_removals_and_service_restart(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    members: dict[str, LocalAPIServer],
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("app", namespace, replicas=2))
    member_clients = {
        c: KubeClient(load_cluster_access(s.kubeconfig), qps=0) for c, s in members.items()
    }
    try:
        for client in member_clients.values():
            await client.create(NAMESPACES, {"metadata": {"name": namespace}})
            await client.create(
                DEPLOYMENTS, sample_deployment("app", namespace, 2, MEMBER_ANNOTATIONS)
            )
            await set_member_status(client, namespace, "app", ready=1)

        async def template_status() -> dict[str, Any]:
            return (await kube.get(DEPLOYMENTS, namespace, "app")).get("status", {})

        async def status_is(**want: int) -> dict[str, Any] | None:
            status = await template_status()
            return status if all(status.get(k, 0) == v for k, v in want.items()) else None

        port = free_port()
        async with service_on(apiserver, port), agents_for(members, port) as agents:
            await eventually(lambda: status_is(replicas=4, readyReplicas=2, observedGeneration=1))
            # one member's status changes
            await set_member_status(member_clients["member-2"], namespace, "app", ready=2)
            await eventually(lambda: status_is(replicas=4, readyReplicas=3))
            # deleted in one member: that cluster's item is removed
            await member_clients["member-1"].delete(DEPLOYMENTS, namespace, "app")
            await eventually(lambda: status_is(replicas=2, readyReplicas=2))
            epoch_before = agents[0].reporter.epoch
            assert epoch_before

        # the service restarts (new epoch, empty store); the agents keep running
        await kube.replace_status(
            DEPLOYMENTS, {**(await kube.get(DEPLOYMENTS, namespace, "app")), "status": {}}
        )
        async with agents_for(members, port) as agents:
            async with service_on(apiserver, port) as svc:
                await eventually(lambda: status_is(replicas=2, readyReplicas=2))

                async def all_synced() -> bool:
                    # an agent whose first calls found no service may still be backing off
                    return all(a.reporter.epoch == svc.service.epoch for a in agents)

                await eventually(all_synced)
            async with service_on(apiserver, port) as svc:

                async def resynced() -> bool:
                    # member-2's item is back: the agents noticed the epoch and called Sync
                    return len(svc.service.store) == 1 and all(
                        a.reporter.epoch == svc.service.epoch for a in agents
                    )

                await eventually(resynced)
                await set_member_status(member_clients["member-2"], namespace, "app", ready=0)
                await eventually(lambda: status_is(replicas=2, readyReplicas=0))
    finally:
        for client in member_clients.values():
            await client.close()
