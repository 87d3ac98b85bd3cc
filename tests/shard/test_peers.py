"""Forwarding between two replicas with token authentication: who may forward, under which view."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.auth import AuthSettings
from aggregator.client import Limits, StatusClient
from aggregator.devcluster import LocalAPIServer, free_port, sample_deployment
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from aggregator.shard.ownership import ring_key
from aggregator.shard.peers import FORWARDED_BY_METADATA, VIEW_METADATA, PeerCredentials
from aggregator.shard.replica import ShardSettings
from tests.helpers import eventually

TOKENS = {
    "east-token": "east",
    "west-token": "west",
    "reader-token": "dashboard",
    "peer-token": "statusagg-peer",
}
EAST = (("authorization", "Bearer east-token"),)
WEST = (("authorization", "Bearer west-token"),)
READER = (("authorization", "Bearer reader-token"),)


def options(apiserver: LocalAPIServer, namespace: str, group: str, replica: str) -> ServeOptions:
    port = free_port()
    return ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen=f"127.0.0.1:{port}",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        auth=AuthSettings(
            tokens=TOKENS,
            peer_identity="statusagg-peer",
            reader_identities=frozenset({"dashboard"}),
        ),
        settings=ServiceSettings(field_manager=f"statusagg/{replica}"),
        sharding=ShardSettings(
            replica_id=replica,
            advertise_address=f"127.0.0.1:{port}",
            namespace=namespace,
            group=group,
            lease_duration_s=3,
            renew_interval_s=0.5,
            renew_deadline_s=2,
            handover_s=0.5,
            peer=PeerCredentials(token="peer-token"),
        ),
    )


@pytest.fixture
async def pair(
    apiserver: LocalAPIServer, namespace: str
) -> AsyncIterator[tuple[RunningService, RunningService]]:
    group = f"g-{uuid.uuid4().hex[:6]}"
    async with (
        running(options(apiserver, namespace, group, "r-a")) as a,
        running(options(apiserver, namespace, group, "r-b")) as b,
    ):

        async def settled() -> bool:
            views = [r.replica.ownership.view for r in (a, b) if r.replica is not None]
            return (
                len(views) == 2
                and views[0].id == views[1].id
                and len(views[0].members) == 2
                and not any(r.replica and r.replica.ownership.handing_over for r in (a, b))
            )

        await eventually(settled, within=20)
        yield a, b


def item(namespace: str, name: str, ready: int, cluster: str = "east") -> pb.MemberStatus:
    status = {"replicas": 3, "updatedReplicas": 3, "readyReplicas": ready}
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace=namespace, name=name
        ),
        status_json=json.dumps(status).encode(),
        applied=True,
        generation=1,
        observed_generation=1,
        template_generation=1,
        sequence=1,
    )


def name_owned_by(svc: RunningService, namespace: str, replica: str) -> str:
    assert svc.replica is not None
    view = svc.replica.ownership.view
    for i in range(1000):
        name = f"app-{i}"
        owner = view.owner(ring_key("apps/v1", "Deployment", namespace, name))
        if owner is not None and owner.id == replica:
            return name
    raise AssertionError(f"no name owned by {replica}")


async def test_items_reach_their_owner_through_the_other_replica(
    kube: KubeClient, namespace: str, pair: tuple[RunningService, RunningService]
) -> None:
    a, b = pair
    name = name_owned_by(a, namespace, "r-b")
    await kube.create(DEPLOYMENTS, sample_deployment(name, namespace, 3))
    async with grpc.aio.insecure_channel(a.address) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        reply = await stub.Report(pb.ReportRequest(items=[item(namespace, name, 2)]), metadata=EAST)
        assert [r.outcome for r in reply.results] == [pb.ItemResult.OUTCOME_ACCEPTED]
        assert a.replica is not None
        assert reply.epoch == a.replica.ownership.view.id

        async def written() -> bool:
            obj = await kube.get(DEPLOYMENTS, namespace, name)
            return (obj.get("status") or {}).get("readyReplicas") == 2

        await eventually(written)
        aggregate = await stub.GetAggregate(
            pb.GetAggregateRequest(
                resource=pb.ResourceRef(
                    api_version="apps/v1", kind="Deployment", namespace=namespace, name=name
                )
            ),
            metadata=EAST,
        )
    assert [i.cluster for i in aggregate.items] == ["east"], "answered by the owner, r-b"
    assert a.service.store.resource_count() == 0, "the receiving replica stored nothing"
    assert b.service.store.resource_count() == 1
    obj = await kube.get(DEPLOYMENTS, namespace, name)
    managers = {e["manager"] for e in obj["metadata"]["managedFields"] if e.get("subresource")}
    assert managers == {"statusagg/r-b"}


async def test_only_replicas_may_forward(
    namespace: str, pair: tuple[RunningService, RunningService]
) -> None:
    a, b = pair
    assert b.replica is not None
    name = name_owned_by(a, namespace, "r-b")
    forged = ((VIEW_METADATA, b.replica.ownership.view.id), (FORWARDED_BY_METADATA, "r-a"))
    async with grpc.aio.insecure_channel(b.address) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Report(
                pb.ReportRequest(items=[item(namespace, name, 1)]), metadata=EAST + forged
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        with pytest.raises(grpc.aio.AioRpcError) as stale:
            await stub.Report(
                pb.ReportRequest(items=[item(namespace, name, 1)]),
                metadata=(
                    ("authorization", "Bearer peer-token"),
                    (VIEW_METADATA, "an-older-view"),
                    (FORWARDED_BY_METADATA, "r-a"),
                ),
            )
        assert stale.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "views differ" in (stale.value.details() or "")
    assert b.service.store.resource_count() == 0, "neither call stored anything"


async def test_forwarded_reads_show_a_member_only_its_own_items(
    kube: KubeClient, namespace: str, pair: tuple[RunningService, RunningService]
) -> None:
    a, _ = pair
    name = name_owned_by(a, namespace, "r-b")
    await kube.create(DEPLOYMENTS, sample_deployment(name, namespace, 3))
    request = pb.GetAggregateRequest(
        resource=pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace=namespace, name=name
        )
    )
    async with grpc.aio.insecure_channel(a.address) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        for cluster, metadata in (("east", EAST), ("west", WEST)):
            await stub.Report(
                pb.ReportRequest(items=[item(namespace, name, 1, cluster)]), metadata=metadata
            )

        async def aggregated() -> pb.GetAggregateResponse | None:
            """The reply once the aggregate includes both clusters (written at once for the
            first report on an idle service, then again for the second)."""
            reply = await stub.GetAggregate(request, metadata=READER)
            if not reply.aggregated_status_json:
                return None
            return reply if json.loads(reply.aggregated_status_json)["readyReplicas"] == 2 else None

        everything = await eventually(aggregated)
        own = await stub.GetAggregate(request, metadata=WEST)
    assert [i.cluster for i in everything.items] == ["east", "west"]
    assert [i.cluster for i in own.items] == ["west"]
    assert not own.aggregated_status_json


async def test_a_chunked_sync_is_split_among_the_replicas(
    namespace: str, pair: tuple[RunningService, RunningService]
) -> None:
    a, b = pair
    names = [f"app-{i}" for i in range(1200)]
    async with grpc.aio.insecure_channel(a.address) as channel:
        client = StatusClient(
            pb_grpc.StatusAggregatorStub(channel), metadata=EAST, limits=Limits(max_items=100)
        )
        answer = await asyncio.wait_for(
            client.sync("east", [item(namespace, n, 1) for n in names]), 60
        )
        assert [r.outcome for r in answer.results] == [pb.ItemResult.OUTCOME_ACCEPTED] * 1200
        held_a, held_b = ({k.name for k in r.service.store.keys()} for r in (a, b))  # noqa: SIM118
        assert held_a | held_b == set(names)
        assert held_a
        assert held_b
        assert not held_a & held_b

        # the cluster lost half of them: each replica drops its share of those
        answer = await asyncio.wait_for(
            client.sync("east", [item(namespace, n, 1) for n in names[::2]]), 60
        )
        assert len(answer.results) == 600
        held_a, held_b = ({k.name for k in r.service.store.keys()} for r in (a, b))  # noqa: SIM118
        assert held_a | held_b == set(names[::2])
