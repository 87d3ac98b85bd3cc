"""Send items to the service in batches; resync on a new epoch; keep only the latest per key.

Between failures the reporter holds at most one pending item per object (a newer one replaces
the older), so memory stays bounded however long the service is away.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge

from aggregator.agent.items import Signature, signature
from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc

log = logging.getLogger(__name__)

ItemKey = tuple[str, str, str, str]  # apiVersion, kind, namespace, name


def item_key(item: pb.MemberStatus) -> ItemKey:
    ref = item.resource
    return ref.api_version, ref.kind, ref.namespace, ref.name


class AgentMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.pending = Gauge(
            "statusagg_agent_pending_items", "Items waiting to be sent.", registry=r
        )
        self.items = Counter(
            "statusagg_agent_items", "Items answered, by outcome.", ["outcome"], registry=r
        )
        self.rpc_errors = Counter(
            "statusagg_agent_rpc_errors", "Failed calls, by code.", ["code"], registry=r
        )
        self.syncs = Counter("statusagg_agent_syncs", "Full Sync calls.", registry=r)


class Reporter:
    """Batches changed items; calls Sync at start and whenever the service's epoch changes."""

    def __init__(
        self,
        stub: pb_grpc.StatusAggregatorAsyncStub,
        cluster: str,
        snapshot: Callable[[], list[pb.MemberStatus]],
        metrics: AgentMetrics,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.05,
        heartbeat_s: float = 5.0,
        max_backoff_s: float = 10.0,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._stub = stub
        self.cluster = cluster
        self._snapshot = snapshot
        self.metrics = metrics
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._heartbeat_s = heartbeat_s
        self._max_backoff_s = max_backoff_s
        self._metadata = metadata
        self._pending: dict[ItemKey, pb.MemberStatus] = {}
        self._sent: dict[ItemKey, Signature] = {}
        # Sequences start from the clock, so a new agent process always counts above its
        # predecessor: a late report from the old process is then stale, not an overwrite.
        self._sequence = time.time_ns() // 1000
        self.epoch = ""
        self._needs_sync = True
        self._wakeup = asyncio.Event()
        self.synced = asyncio.Event()

    def offer(self, item: pb.MemberStatus) -> None:
        """Queue ``item`` unless it repeats what was last sent (or is being sent) for its object."""
        key = item_key(item)
        if self._sent.get(key) == signature(item) and key not in self._pending:
            return
        self._pending[key] = item
        self.metrics.pending.set(len(self._pending))
        self._wakeup.set()

    def _stamp(self, items: list[pb.MemberStatus]) -> list[pb.MemberStatus]:
        stamped = []
        for item in items:
            self._sequence += 1
            copy = pb.MemberStatus()
            copy.CopyFrom(item)
            copy.sequence = self._sequence
            stamped.append(copy)
        return stamped

    def _observe_epoch(self, epoch: str) -> None:
        if self.epoch and epoch != self.epoch:
            log.info("service epoch changed (%s -> %s): resyncing", self.epoch, epoch)
            self._needs_sync = True
        self.epoch = epoch

    def _count(self, reply: pb.ReportResponse, items: list[pb.MemberStatus]) -> None:
        for result, item in zip(reply.results, items, strict=False):
            outcome = pb.ItemResult.Outcome.Name(result.outcome).removeprefix("OUTCOME_").lower()
            self.metrics.items.labels(outcome=outcome).inc()
            if result.outcome == pb.ItemResult.OUTCOME_REJECTED:
                log.warning("item %s rejected: %s", "/".join(item_key(item)), result.reason)

    async def _sync(self) -> None:
        covered = dict(self._pending)  # the snapshot includes (or, for removals, omits) these
        items = self._stamp(self._snapshot())
        reply = await self._stub.Sync(
            pb.SyncRequest(cluster=self.cluster, items=items), metadata=self._metadata
        )
        self.metrics.syncs.inc()
        self._count(reply, items)
        self.epoch = reply.epoch
        self._needs_sync = False
        self._sent = {item_key(i): signature(i) for i in items}
        for key, item in covered.items():
            if self._pending.get(key) is item:
                del self._pending[key]
        self.synced.set()

    async def _send_batch(self) -> None:
        keys = list(self._pending)[: self._batch_size]
        batch = [self._pending.pop(k) for k in keys]
        items = self._stamp(batch)
        # before the call: a change back to the last value sent, arriving while this batch is on
        # the wire, must not be skipped as a repeat (on failure the batch is pending again)
        for key, item in zip(keys, batch, strict=True):
            if item.removed:
                self._sent.pop(key, None)
            else:
                self._sent[key] = signature(item)
        try:
            reply = await self._stub.Report(pb.ReportRequest(items=items), metadata=self._metadata)
        except BaseException:
            for key, item in zip(keys, batch, strict=True):
                self._pending.setdefault(key, item)  # a newer pending item wins
            raise
        self._observe_epoch(reply.epoch)
        self._count(reply, items)

    async def run(self) -> None:
        backoff = 0.1
        while True:
            try:
                if self._needs_sync:
                    await self._sync()
                elif self._pending:
                    await self._send_batch()
                else:
                    try:
                        # not wait_for: on Python 3.11 it swallows a cancellation that arrives
                        # as the wakeup fires, and the agent would never stop
                        async with asyncio.timeout(self._heartbeat_s):
                            await self._wakeup.wait()
                    except TimeoutError:
                        reply = await self._stub.Report(pb.ReportRequest(), metadata=self._metadata)
                        self._observe_epoch(reply.epoch)
                    self._wakeup.clear()
                    await asyncio.sleep(self._flush_interval_s)
                backoff = 0.1
            except grpc.aio.AioRpcError as exc:
                self.metrics.rpc_errors.labels(code=exc.code().name).inc()
                log.warning(
                    "report to the service failed (%s: %s); retrying in %.1fs",
                    exc.code().name,
                    exc.details(),
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._max_backoff_s)
            finally:
                self.metrics.pending.set(len(self._pending))
