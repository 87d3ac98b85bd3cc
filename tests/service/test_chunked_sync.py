"""SyncChunks against a running service: applied only whole, superseded by a newer Sync,
bounded by the cluster's quotas; a cluster of 50,000 items."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import grpc
import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.client import Limits, StatusClient
from aggregator.devcluster import LocalAPIServer
from aggregator.model import ResourceKey
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from aggregator.store import Quotas
from tests.helpers import eventually

CLUSTER = "member-big"
NAMESPACE = "chunked"


def item(name: str, ready: int = 1, cluster: str = CLUSTER) -> pb.MemberStatus:
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace=NAMESPACE, name=name
        ),
        status_json=json.dumps({"replicas": 1, "readyReplicas": ready}).encode(),
        applied=True,
        sequence=1,
    )


def names(count: int, start: int = 0) -> list[str]:
    return [f"web-{i}" for i in range(start, start + count)]


def held(svc: RunningService, cluster: str = CLUSTER) -> set[str]:
    """The names of the resources the service holds an item of ``cluster`` for."""
    store = svc.service.store
    return {key.name for key in store.keys() if cluster in store.clusters_of(key)}  # noqa: SIM118


def key(name: str) -> ResourceKey:
    return ResourceKey("apps/v1", "Deployment", NAMESPACE, name)


def rejected_items(svc: RunningService) -> float:
    total = 0.0
    for metric in svc.service.metrics.reports.collect():
        for sample in metric.samples:
            if sample.name.endswith("_total") and sample.labels.get("result") == "rejected":
                total += sample.value
    return total


async def rejections_above(svc: RunningService, before: float) -> bool:
    """A rejected item is counted as its chunk is taken: then the chunk was seen."""
    return rejected_items(svc) > before


@pytest.fixture(scope="module")
async def svc(apiserver: LocalAPIServer) -> AsyncIterator[RunningService]:
    settings = ServiceSettings(
        workers=2,
        quotas=Quotas(max_items=60_000, max_bytes=256 * 1024 * 1024),
    )
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        settings=settings,
    )
    async with running(options) as service:
        yield service


@pytest.fixture
async def stub(svc: RunningService) -> AsyncIterator[pb_grpc.StatusAggregatorAsyncStub]:
    async with grpc.aio.insecure_channel(svc.address) as channel:
        yield pb_grpc.StatusAggregatorStub(channel)


def chunks(cluster: str, groups: list[list[pb.MemberStatus]], last: bool) -> Iterator[pb.SyncChunk]:
    for index, group in enumerate(groups):
        chunk = pb.SyncChunk(items=group, last=last and index == len(groups) - 1)
        if index == 0:
            chunk.cluster = cluster
        yield chunk


async def sync(stub: pb_grpc.StatusAggregatorAsyncStub, *groups: list[str]) -> pb.ReportResponse:
    """A complete chunked Sync of CLUSTER, one chunk per group of names."""
    return await stub.SyncChunks(
        chunks(CLUSTER, [[item(n) for n in group] for group in groups], last=True), timeout=60
    )


async def test_fifty_thousand_items_then_a_thousand_fewer(svc: RunningService) -> None:
    channel = grpc.aio.insecure_channel(svc.address)
    async with channel:
        # about 5 MB in all: chunks of at most 500 items and 1 MiB
        client = StatusClient.over(channel, limits=Limits(max_bytes=1024 * 1024))
        answer = await client.sync(CLUSTER, [item(n) for n in names(50_000)])
        assert len(answer.results) == 50_000
        assert {r.outcome for r in answer.results} == {pb.ItemResult.OUTCOME_ACCEPTED}
        assert answer.epoch == svc.service.epoch
        assert held(svc) == set(names(50_000))
        assert svc.service.store.held()[CLUSTER][0] == 50_000

        # the cluster lost web-0 .. web-999 and changed web-1000
        remaining = [item(n) for n in names(49_000, start=1000)]
        remaining[0] = item("web-1000", ready=0)
        answer = await client.sync(CLUSTER, remaining)
        assert len(answer.results) == 49_000
        assert held(svc) == set(names(49_000, start=1000))
        assert svc.service.items(key("web-0")) == []
        assert svc.service.items(key("web-1000"))[0].status == {"replicas": 1, "readyReplicas": 0}
        assert svc.service.store.held()[CLUSTER][0] == 49_000
    # the next tests start from an empty cluster
    async with grpc.aio.insecure_channel(svc.address) as channel:
        await StatusClient.over(channel).sync(CLUSTER, [])
    assert held(svc) == set()


async def test_chunks_are_answered_in_order(stub: pb_grpc.StatusAggregatorAsyncStub) -> None:
    bad = item("Not_A_Name")
    reply = await stub.SyncChunks(
        chunks(CLUSTER, [[item("a")], [bad, item("b")], [item("a")]], last=True), timeout=10
    )
    outcomes = [r.outcome for r in reply.results]
    assert outcomes == [
        pb.ItemResult.OUTCOME_ACCEPTED,
        pb.ItemResult.OUTCOME_REJECTED,
        pb.ItemResult.OUTCOME_ACCEPTED,
        pb.ItemResult.OUTCOME_REJECTED,  # a second item of "a", in another chunk
    ]
    assert "duplicate" in reply.results[3].reason


async def test_a_sync_ending_without_its_last_chunk_changes_nothing(
    svc: RunningService, stub: pb_grpc.StatusAggregatorAsyncStub
) -> None:
    await sync(stub, names(50))
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await stub.SyncChunks(
            chunks(CLUSTER, [[item(n) for n in names(5)]], last=False), timeout=10
        )
    assert failure.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "nothing was applied" in (failure.value.details() or "")
    assert held(svc) == set(names(50))


async def test_a_broken_sync_changes_nothing(
    svc: RunningService, stub: pb_grpc.StatusAggregatorAsyncStub
) -> None:
    await sync(stub, names(50))
    call = stub.SyncChunks(timeout=10)  # type: ignore[call-arg]
    before = rejected_items(svc)
    await call.write(pb.SyncChunk(cluster=CLUSTER, items=[item("a"), item("Bad_Name")]))
    await eventually(lambda: rejections_above(svc, before))
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert held(svc) == set(names(50))


async def test_a_newer_sync_supersedes_a_partial_one(
    svc: RunningService, stub: pb_grpc.StatusAggregatorAsyncStub
) -> None:
    await sync(stub, names(50))
    older = stub.SyncChunks(timeout=10)  # type: ignore[call-arg]
    before = rejected_items(svc)
    await older.write(pb.SyncChunk(cluster=CLUSTER, items=[item("old"), item("Bad_Name")]))
    await eventually(lambda: rejections_above(svc, before))
    # a one-message Sync of the cluster arrives meanwhile
    reply = await stub.Sync(pb.SyncRequest(cluster=CLUSTER, items=[item("new")]), timeout=10)
    assert reply.results[0].outcome == pb.ItemResult.OUTCOME_ACCEPTED
    await older.write(pb.SyncChunk(items=[item("old-2")], last=True))
    await older.done_writing()
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await older
    assert failure.value.code() == grpc.StatusCode.ABORTED
    assert held(svc) == {"new"}


async def test_chunks_of_another_cluster_are_refused(
    svc: RunningService, stub: pb_grpc.StatusAggregatorAsyncStub
) -> None:
    await sync(stub, names(3))
    for groups, problem in (
        ([pb.SyncChunk(items=[item("a")], last=True)], "the first chunk needs a cluster"),
        (
            [
                pb.SyncChunk(cluster=CLUSTER, items=[item("a")]),
                pb.SyncChunk(cluster="member-other", last=True),
            ],
            "a chunk of cluster 'member-other'",
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await stub.SyncChunks(iter(groups), timeout=10)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert problem in (failure.value.details() or "")
    assert held(svc) == set(names(3))


async def test_quotas_bound_a_chunked_sync(apiserver: LocalAPIServer) -> None:
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        settings=ServiceSettings(quotas=Quotas(max_items=10, max_bytes=4000)),
    )
    async with running(options) as small, grpc.aio.insecure_channel(small.address) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        reply = await sync(stub, names(6), names(6, start=6))
        outcomes = [r.outcome for r in reply.results]
        assert outcomes[:10] == [pb.ItemResult.OUTCOME_ACCEPTED] * 10
        assert outcomes[10:] == [pb.ItemResult.OUTCOME_REJECTED] * 2
        assert "the limit of 10" in reply.results[10].reason
        assert held(small) == set(names(10))

        big = pb.MemberStatus()
        big.CopyFrom(item("big"))
        big.status_json = json.dumps({"replicas": 1, "message": "x" * 5000}).encode()
        reply = await stub.SyncChunks(chunks(CLUSTER, [[big, item("a")]], last=True), timeout=10)
        assert reply.results[0].outcome == pb.ItemResult.OUTCOME_REJECTED
        assert "over the limit of 4000" in reply.results[0].reason
        assert held(small) == {"a"}

        # twice the item quota in all: refused whole, before the last chunk
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await sync(stub, names(15), names(15, start=15))
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert held(small) == {"a"}
