"""A service on the control plane and an agent for one member cluster, as the tests of agents
that learn from the service run them."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from aggregator.agent.run import AgentOptions
from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from aggregator.kube.crds import install_crd
from aggregator.kube.resources import NAMESPACES, ResourceType
from aggregator.serve import ServeOptions
from aggregator.service import ServiceSettings
from tests.service.test_live_customizations import GROUP, widget_crd


def service_options(apiserver: LocalAPIServer) -> ServeOptions:
    return ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        settings=ServiceSettings(workers=2, min_write_interval_s=0.05),
    )


def agent_options(
    cluster: str, address: str, member: LocalAPIServer, kinds: list[tuple[str, str]]
) -> AgentOptions:
    """An agent polling the service's configuration every 0.1 s."""
    return AgentOptions(
        cluster=cluster,
        server=address,
        kinds=kinds,
        kubeconfig=Path(member.kubeconfig),
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        heartbeat_s=0.2,
        config_interval_s=0.1,
    )


async def propagated(
    member: KubeClient, kind: str, plural: str, namespace: str, name: str
) -> tuple[ResourceType, dict[str, Any]]:
    """Install the custom kind in the member cluster and create an object of it there, marked
    as propagated."""
    rt = await install_crd(member, widget_crd(kind, plural))
    with contextlib.suppress(Exception):
        await member.create(NAMESPACES, {"metadata": {"name": namespace}})
    obj = {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "annotations": {"work.karmada.io/name": "w"},
        },
    }
    return rt, await member.create(rt, obj)
