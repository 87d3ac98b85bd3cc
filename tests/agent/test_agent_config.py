"""Agents learn kinds and customizations from the service: one apply of a
ResourceInterpreterCustomization on the control plane, and an agent started without the kind
watches it, reflects with its script, and follows a change, with no restart."""

from __future__ import annotations

import contextlib
import json
import uuid
from typing import Any

import grpc

from aggregator.agent.run import running_agent
from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient, load_cluster_access
from aggregator.kube.client import NotFound
from aggregator.kube.crds import RIC_CRD, install_crd
from aggregator.serve import running
from tests.agent.setup import agent_options, propagated, service_options
from tests.helpers import eventually
from tests.service.test_live_customizations import GROUP, widget_crd

AGGREGATE = """
function AggregateStatus(desiredObj, statusItems)
  desiredObj.status = {reflected = statusItems[1].status}
  return desiredObj
end
"""


def reflecting(*fields: str) -> str:
    picked = ", ".join(f"{f} = observedObj.status.{f}" for f in fields)
    return f"function ReflectStatus(observedObj)\n  return {{{picked}}}\nend\n"


def customization(name: str, kind: str, reflect: str) -> dict[str, Any]:
    return {
        "apiVersion": "config.karmada.io/v1alpha1",
        "kind": "ResourceInterpreterCustomization",
        "metadata": {"name": name},
        "spec": {
            "target": {"apiVersion": f"{GROUP}/v1", "kind": kind},
            "customizations": {
                "statusAggregation": {"luaScript": AGGREGATE},
                "statusReflection": {"luaScript": reflect},
            },
        },
    }


async def test_agent_follows_the_services_customizations(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    members: dict[str, LocalAPIServer],
) -> None:
    cluster, member_server = next(iter(members.items()))
    suffix = uuid.uuid4().hex[:6]
    kind, plural = f"Gizmo{suffix}", f"gizmos{suffix}"
    rics = await install_crd(kube, RIC_CRD)
    gizmos = await install_crd(kube, widget_crd(kind, plural))
    obj = {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "metadata": {"name": "g", "namespace": namespace},
    }
    await kube.create(gizmos, obj)
    name = f"gizmos-{suffix}"
    async with (
        KubeClient(load_cluster_access(member_server.kubeconfig), qps=0) as member,
        running(service_options(apiserver)) as svc,
    ):
        member_gizmos, created = await propagated(member, kind, plural, namespace, "g")
        status = {"ready": 3, "phase": "Running", "noise": "not reflected"}
        await member.replace_status(member_gizmos, created | {"status": status})
        options = agent_options(cluster, svc.address, member_server, [("apps/v1", "Deployment")])

        async def template_status() -> Any:
            return (await kube.get(gizmos, namespace, "g")).get("status")

        async def status_is(expected: Any) -> bool:
            return bool(await template_status() == expected)

        async with running_agent(options) as agent:
            await eventually(lambda: _true(agent.config.revision != ""))
            assert (f"{GROUP}/v1", kind) not in agent.watched
            try:
                await kube.create(rics, customization(name, kind, reflecting("ready")))
                # only the reflected field (and the generation the agent adds) is reported
                await eventually(lambda: status_is({"reflected": {"ready": 3, "generation": 1}}))

                async with grpc.aio.insecure_channel(svc.address) as channel:
                    config = await pb_grpc.StatusAggregatorStub(channel).GetAgentConfig(
                        pb.GetAgentConfigRequest()
                    )
                assert [(k.api_version, k.kind) for k in config.kinds] == [(f"{GROUP}/v1", kind)]
                [document] = [json.loads(blob) for blob in config.customizations_json]
                assert document["metadata"]["name"] == name
                assert config.revision == agent.config.revision

                # a changed reflect script: the agent reflects again, the service re-aggregates
                current = await kube.get(rics, None, name)
                changed = customization(name, kind, reflecting("ready", "phase"))
                await kube.replace(rics, changed | {"metadata": current["metadata"]})
                await eventually(
                    lambda: status_is(
                        {"reflected": {"ready": 3, "phase": "Running", "generation": 1}}
                    )
                )
            finally:
                with contextlib.suppress(NotFound):
                    await kube.delete(rics, None, name)

            # deleted: the agent stops watching the kind
            await eventually(lambda: _true((f"{GROUP}/v1", kind) not in agent.watched))


async def _true(value: bool) -> bool:
    return value
