"""A late report from an agent's previous process cannot overwrite what its successor synced."""

from __future__ import annotations

import asyncio
import json

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.client import Reporter, ReporterMetrics, StatusClient
from aggregator.ingest import Limits, Validator
from aggregator.store import MemberStore, Outcome
from aggregator.wire import raw_item


class RecordingStub:
    """Answers every call at once and keeps what was sent."""

    def __init__(self) -> None:
        self.sent: list[pb.MemberStatus] = []
        self.called = asyncio.Event()

    async def Sync(self, request: pb.SyncRequest, **_: object) -> pb.ReportResponse:  # noqa: N802
        self.sent.extend(request.items)
        self.called.set()
        return pb.ReportResponse(epoch="e", results=[pb.ItemResult()] * len(request.items))

    async def Report(self, request: pb.ReportRequest, **_: object) -> pb.ReportResponse:  # noqa: N802
        self.sent.extend(request.items)
        self.called.set()
        return pb.ReportResponse(epoch="e", results=[pb.ItemResult()] * len(request.items))


def item(ready: int) -> pb.MemberStatus:
    return pb.MemberStatus(
        cluster="east",
        resource=pb.ResourceRef(api_version="apps/v1", kind="Deployment", namespace="ns", name="a"),
        status_json=json.dumps({"readyReplicas": ready}).encode(),
        applied=True,
    )


async def run_once(ready: int, changes: list[int]) -> list[pb.MemberStatus]:
    """One agent process: Sync ``ready``, then report each of ``changes``."""
    stub = RecordingStub()
    client = StatusClient(stub)  # type: ignore[arg-type]
    reporter = Reporter(client, "east", lambda: [item(ready)], ReporterMetrics(), heartbeat_s=60)
    task = asyncio.create_task(reporter.run())
    await reporter.synced.wait()
    for count, value in enumerate(changes, start=2):
        reporter.offer(item(value))
        while len(stub.sent) < count:
            stub.called.clear()
            await stub.called.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return stub.sent


async def test_a_late_report_of_the_previous_process_is_stale() -> None:
    old = await run_once(1, [2, 3])
    new = await run_once(3, [])
    validator = Validator(lambda _v, _k: True, Limits())
    store = MemberStore()
    store.replace_cluster("east", [validator.validate(raw_item(m)) for m in new])
    late = validator.validate(raw_item(old[-1]))
    assert store.put(late) is Outcome.STALE
    assert [m.sequence for m in old] == sorted(m.sequence for m in old)


async def test_a_coroutine_snapshot_is_awaited_for_sync() -> None:
    stub = RecordingStub()
    client = StatusClient(stub)  # type: ignore[arg-type]

    async def snapshot() -> list[pb.MemberStatus]:
        await asyncio.sleep(0)
        return [item(4)]

    reporter = Reporter(client, "east", snapshot, ReporterMetrics(), heartbeat_s=60)
    task = asyncio.create_task(reporter.run())
    await reporter.synced.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    [synced] = stub.sent
    assert json.loads(synced.status_json) == {"readyReplicas": 4}
    assert synced.sequence > 0
