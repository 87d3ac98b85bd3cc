"""The Python client against a service that predates SyncChunks: it falls back to one Sync.

The server here is a stand-in (only Sync implemented; the generated base class answers
UNIMPLEMENTED for the rest), enough for what the client decides."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import grpc
import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.client import Limits, StatusClient


class SyncOnly(pb_grpc.StatusAggregatorServicer):
    def __init__(self) -> None:
        self.syncs: list[int] = []

    async def Sync(  # noqa: N802
        self,
        request: pb.SyncRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.ReportResponse:
        self.syncs.append(len(request.items))
        accepted = pb.ItemResult(outcome=pb.ItemResult.OUTCOME_ACCEPTED)
        return pb.ReportResponse(epoch="old", results=[accepted] * len(request.items))


@pytest.fixture
async def old_service() -> AsyncIterator[tuple[SyncOnly, str]]:
    server = grpc.aio.server()
    servicer = SyncOnly()
    pb_grpc.add_StatusAggregatorServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield servicer, f"127.0.0.1:{port}"
    finally:
        await server.stop(None)


def item(name: str) -> pb.MemberStatus:
    return pb.MemberStatus(
        cluster="east",
        resource=pb.ResourceRef(api_version="apps/v1", kind="Deployment", name=name),
        status_json=json.dumps({"message": "x" * 1000}).encode(),
        applied=True,
    )


async def test_a_large_sync_falls_back_to_one_message(old_service: tuple[SyncOnly, str]) -> None:
    servicer, address = old_service
    items = [item(f"app-{i}") for i in range(50)]  # about 55 KB: over max_bytes, so chunked
    async with grpc.aio.insecure_channel(address) as channel:
        client = StatusClient.over(channel, limits=Limits(max_bytes=16 * 1024, attempts=1))
        answer = await client.sync("east", items)
    assert servicer.syncs == [50]
    assert answer.epoch == "old"
    assert len(answer.results) == 50
