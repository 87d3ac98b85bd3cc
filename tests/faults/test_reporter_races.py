"""The agent's reporter when a member object changes while a call about it is on the wire.

The service side is an in-memory stand-in that holds calls until the test lets them through
(no Kubernetes behaviour is involved); what matters is what the service ends up holding.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.client import Limits, Reporter, ReporterMetrics, StatusClient
from tests.faults.workload import until

NAME = "web"


def item(ready: int | None) -> pb.MemberStatus:
    """The member object ``web`` with ``ready`` ready replicas, or its removal (None)."""
    ref = pb.ResourceRef(api_version="apps/v1", kind="Deployment", namespace="ns", name=NAME)
    if ready is None:
        return pb.MemberStatus(cluster="m", resource=ref, removed=True)
    status = json.dumps({"readyReplicas": ready}).encode()
    return pb.MemberStatus(cluster="m", resource=ref, status_json=status, applied=True)


class Unavailable(grpc.aio.AioRpcError):
    def __init__(self) -> None:
        super().__init__(
            grpc.StatusCode.UNAVAILABLE,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details="connection reset",
        )


class HeldService:
    """Answers Report and Sync like the service, each call waiting for ``gate``."""

    def __init__(self) -> None:
        self.held: dict[str, int | None] = {}
        self.gate = asyncio.Event()
        self.gate.set()
        self.in_flight = 0
        self.fail_next = False
        self.calls = 0

    async def _call(self, items: Any, replace: bool) -> pb.ReportResponse:
        self.in_flight += 1
        try:
            await self.gate.wait()
        finally:
            self.in_flight -= 1
        self.calls += 1
        if self.fail_next:
            self.fail_next = False
            raise Unavailable()
        if replace:
            self.held.clear()
        for member in items:
            if member.removed:
                self.held.pop(member.resource.name, None)
            else:
                self.held[member.resource.name] = json.loads(member.status_json)["readyReplicas"]
        accepted = pb.ItemResult(outcome=pb.ItemResult.OUTCOME_ACCEPTED)
        return pb.ReportResponse(epoch="one", results=[accepted for _ in items])

    async def Report(  # noqa: N802
        self, request: pb.ReportRequest, **_: object
    ) -> pb.ReportResponse:
        return await self._call(request.items, replace=False)

    async def Sync(self, request: pb.SyncRequest, **_: object) -> pb.ReportResponse:  # noqa: N802
        return await self._call(request.items, replace=True)


class Member:
    """The member's current object, as the agent's watch cache would hold it."""

    def __init__(self, ready: int | None) -> None:
        self.ready = ready

    def snapshot(self) -> list[pb.MemberStatus]:
        return [] if self.ready is None else [item(self.ready)]

    def change(self, reporter: Reporter, ready: int | None) -> None:
        self.ready = ready
        reporter.offer(item(ready))


@contextlib.asynccontextmanager
async def reporting(service: HeldService, member: Member) -> AsyncIterator[Reporter]:
    reporter = Reporter(
        StatusClient(service, limits=Limits(attempts=1)),  # type: ignore[arg-type]
        "m",
        member.snapshot,
        ReporterMetrics(),
        heartbeat_s=3600,
        flush_interval_s=0.001,
        max_backoff_s=0.01,
    )
    task = asyncio.create_task(reporter.run())
    try:
        await until(reporter.synced.is_set)
        yield reporter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _settled(service: HeldService, reporter: Reporter) -> None:
    """Nothing left to send and nothing on the wire."""
    await until(lambda: not reporter._pending and service.in_flight == 0, within=10)


@pytest.mark.parametrize("between", [2, None], ids=["changed", "removed"])
@pytest.mark.parametrize("fails", [False, True], ids=["answered", "connection-reset"])
async def test_change_back_while_report_in_flight(between: int | None, fails: bool) -> None:
    """1 is sent; the object changes (or is deleted) and back to 1 while the report of the
    change is on the wire: the service must end with 1."""
    service, member = HeldService(), Member(1)
    async with reporting(service, member) as reporter:
        assert service.held == {NAME: 1}
        service.gate.clear()
        service.fail_next = fails
        member.change(reporter, between)
        await until(lambda: service.in_flight == 1)
        member.change(reporter, 1)
        service.gate.set()
        await _settled(service, reporter)
        assert service.held == {NAME: 1}
        assert service.calls == 3  # Sync, the change, the change back (or the failed change,
        # then the change back that replaced it)


async def test_cancelled_as_woken_still_stops() -> None:
    """An agent stopping while a change wakes its reporter up must still stop."""
    service, member = HeldService(), Member(1)
    reporter = Reporter(
        StatusClient(service, limits=Limits(attempts=1)),  # type: ignore[arg-type]
        "m",
        member.snapshot,
        ReporterMetrics(),
        heartbeat_s=3600,
    )
    task = asyncio.create_task(reporter.run())
    await until(reporter.synced.is_set)  # idle now, waiting for a change or the heartbeat
    reporter._wakeup.set()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=10)
    assert task in done
    assert task.cancelled()
