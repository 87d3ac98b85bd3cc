"""Agents call interpreter webhooks for InterpretStatus and InterpretHealth: one apply of a
ResourceInterpreterWebhookConfiguration on the control plane, and an agent started without the
kind watches it, reports the webhook's rawStatus and health, yields to a customization for the
same kind and operation, and reports nothing while the webhook fails, until it answers again.
Real API servers (control plane and member), a real HTTPS webhook with its own CA."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from aggregator.agent.run import Agent, running_agent
from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient, load_cluster_access
from aggregator.kube.client import NotFound
from aggregator.kube.crds import RIC_CRD, RIWC_CRD, install_crd
from aggregator.kube.resources import ResourceType
from aggregator.serve import running
from tests.agent.setup import agent_options, propagated, service_options
from tests.helpers import eventually
from tests.service.test_live_customizations import GROUP, ric, widget_crd
from tests.webhook_server import (
    WebhookServer,
    make_authority,
    member_healthy,
    member_status,
    webhook_server,
)

pytestmark = pytest.mark.apiserver

LUA_REFLECT = """
function ReflectStatus(observedObj)
  return {luaReady = observedObj.status.ready}
end
"""


def configuration(name: str, kind: str, url: str, ca_bundle: str) -> dict[str, Any]:
    return {
        "apiVersion": "config.karmada.io/v1alpha1",
        "kind": "ResourceInterpreterWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "members",
                "clientConfig": {"url": url, "caBundle": ca_bundle},
                "rules": [
                    {
                        # the service accepts items of kinds it can aggregate
                        "operations": ["InterpretStatus", "InterpretHealth", "AggregateStatus"],
                        "apiGroups": [GROUP],
                        "apiVersions": ["v1"],
                        "kinds": [kind],
                    }
                ],
                "timeoutSeconds": 5,
                "interpreterContextVersions": ["v1alpha1"],
            }
        ],
    }


class Member:
    """One object of a custom kind in a member cluster, and what the service holds for it."""

    def __init__(
        self, client: KubeClient, rt: ResourceType, obj: dict[str, Any], address: str
    ) -> None:
        self.client = client
        self.rt = rt
        self.obj = obj
        self.address = address

    async def set_status(self, status: dict[str, Any]) -> dict[str, Any]:
        meta = self.obj["metadata"]
        current = await self.client.get(self.rt, meta["namespace"], meta["name"])
        self.obj = await self.client.replace_status(self.rt, current | {"status": status})
        return self.obj

    async def reported(self) -> pb.MemberStatus | None:
        """The item the service holds for the object, if any."""
        meta = self.obj["metadata"]
        ref = pb.ResourceRef(
            api_version=f"{GROUP}/v1",
            kind=self.obj["kind"],
            namespace=meta["namespace"],
            name=meta["name"],
        )
        async with grpc.aio.insecure_channel(self.address) as channel:
            try:
                reply = await pb_grpc.StatusAggregatorStub(channel).GetAggregate(
                    pb.GetAggregateRequest(resource=ref)
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None
                raise
        return next(iter(reply.items), None)

    async def reported_as(self, status: dict[str, Any] | None, health: int) -> bool:
        item = await self.reported()
        if item is None:
            return False
        reported = json.loads(item.status_json) if item.status_json else None
        return bool(reported == status and item.health == health)


def request_for(server: WebhookServer, operation: str, name: str) -> dict[str, Any]:
    """The last request ``server`` got for ``operation`` on the object ``name``."""
    return next(
        r for r in reversed(server.requests) if r["operation"] == operation and r["name"] == name
    )


def webhook_calls(agent: Agent, configuration: str, operation: str, result: str) -> float:
    value = agent.metrics.registry.get_sample_value(
        "statusagg_agent_webhook_calls_total",
        {"configuration": configuration, "operation": operation, "result": result},
    )
    return value or 0.0


@pytest.fixture
async def server() -> AsyncIterator[tuple[WebhookServer, str]]:
    authority = make_authority()
    async with webhook_server(authority) as running_server:
        yield running_server, authority.ca_bundle


async def test_agent_reports_what_webhooks_reflect_and_judge(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    members: dict[str, LocalAPIServer],
    server: tuple[WebhookServer, str],
) -> None:
    webhook, ca_bundle = server
    cluster, member_server = next(iter(members.items()))
    suffix = uuid.uuid4().hex[:6]
    kind, plural = f"Sprocket{suffix}", f"sprockets{suffix}"
    rics = await install_crd(kube, RIC_CRD)
    riwcs = await install_crd(kube, RIWC_CRD)
    await install_crd(kube, widget_crd(kind, plural))
    config_name, ric_name = f"sprockets-{suffix}", f"sprockets-lua-{suffix}"
    async with (
        KubeClient(load_cluster_access(member_server.kubeconfig), qps=0) as member_client,
        running(service_options(apiserver)) as svc,
    ):
        member_rt, created = await propagated(member_client, kind, plural, namespace, "s")
        member = Member(member_client, member_rt, created, svc.address)
        await member.set_status({"ready": 2, "phase": "Running"})
        options = agent_options(cluster, svc.address, member_server, [])
        async with running_agent(options) as agent:
            await eventually(lambda: _true(agent.config.revision != ""))
            assert (f"{GROUP}/v1", kind) not in agent.watched
            try:
                await kube.create(
                    riwcs, configuration(config_name, kind, f"{webhook.url}/member", ca_bundle)
                )
                # one apply: the agent watches the kind and reports the webhook's answers
                await eventually(lambda: member.reported_as({"webhookReady": 2}, pb.HEALTH_HEALTHY))
                sent = request_for(webhook, "InterpretStatus", "s")
                assert sent["object"]["status"] == {"ready": 2, "phase": "Running"}
                assert sent["kind"] == {"group": GROUP, "version": "v1", "kind": kind}
                assert member_status(sent) == {"webhookReady": 2}
                assert member_healthy(request_for(webhook, "InterpretHealth", "s"))
                assert webhook_calls(agent, config_name, "InterpretStatus", "ok") >= 1

                # the webhook judges a changed object unhealthy
                await member.set_status({"ready": 1, "phase": "Pending"})
                await eventually(
                    lambda: member.reported_as({"webhookReady": 1}, pb.HEALTH_UNHEALTHY)
                )

                # a customization for the same kind and operation comes first; health, which
                # it does not define, stays the webhook's
                await kube.create(rics, ric(ric_name, kind, LUA_REFLECT, "statusReflection"))
                await eventually(lambda: member.reported_as({"luaReady": 1}, pb.HEALTH_UNHEALTHY))
                await kube.delete(rics, None, ric_name)
                await eventually(
                    lambda: member.reported_as({"webhookReady": 1}, pb.HEALTH_UNHEALTHY)
                )

                # a failing webhook: the new state is not reported (the service keeps the last
                # item), the failure is counted, and the object is tried again until it answers
                webhook.failing = True
                await member.set_status({"ready": 4, "phase": "Running"})
                await eventually(
                    lambda: _true(
                        webhook_calls(agent, config_name, "InterpretStatus", "http-error") >= 2
                    )
                )
                assert await member.reported_as({"webhookReady": 1}, pb.HEALTH_UNHEALTHY)
                webhook.failing = False
                await eventually(lambda: member.reported_as({"webhookReady": 4}, pb.HEALTH_HEALTHY))
            finally:
                with contextlib.suppress(NotFound):
                    await kube.delete(rics, None, ric_name)
                with contextlib.suppress(NotFound):
                    await kube.delete(riwcs, None, config_name)

            # deleted: the agent stops watching the kind (no customization names it either)
            await eventually(lambda: _true((f"{GROUP}/v1", kind) not in agent.watched))


async def _true(value: bool) -> bool:
    return value
