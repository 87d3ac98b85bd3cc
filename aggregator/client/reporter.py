"""A member cluster's reporting session: changed items sent in batches, each stamped with a
sequence; the whole cluster sent with Sync at start and whenever the service's epoch changes; a
heartbeat while nothing changes; failures retried with exponential backoff.

Between failures the reporter holds at most one pending item per object (a newer one replaces
the older), so memory stays bounded however long the service is away.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator

import grpc
from prometheus_client import CollectorRegistry, Counter, Gauge
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.client.batching import MESSAGE_OVERHEAD, encoded_size
from aggregator.client.calls import Answer, StatusClient

log = logging.getLogger(__name__)

ItemKey = tuple[str, str, str, str]  # apiVersion, kind, namespace, name
Signature = tuple[bytes, int, int | None, int | None, int | None, bool]
Snapshot = Callable[[], list[pb.MemberStatus] | Awaitable[list[pb.MemberStatus]]]


def item_key(item: pb.MemberStatus) -> ItemKey:
    ref = item.resource
    return ref.api_version, ref.kind, ref.namespace, ref.name


def signature(item: pb.MemberStatus) -> Signature:
    """What makes two reports of one object different (sequence aside)."""
    return (
        item.status_json,
        item.health,
        item.generation if item.HasField("generation") else None,
        item.observed_generation if item.HasField("observed_generation") else None,
        item.template_generation if item.HasField("template_generation") else None,
        item.removed,
    )


class ReporterMetrics:
    """Prometheus series of one reporter, in their own registry."""

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
    """Reports one cluster's items through ``client``.

    ``snapshot`` returns (or, as a coroutine function, resolves to) an item for every object the
    cluster holds now (for Sync); make it a coroutine function when building the items may
    block, so the event loop stays free meanwhile. ``offer``
    and ``remove`` queue what changed. ``run`` does the sending until cancelled. Every failed
    call of ``client`` (it becomes the client's ``on_failure``) is counted in ``metrics``."""

    def __init__(
        self,
        client: StatusClient,
        cluster: str,
        snapshot: Snapshot,
        metrics: ReporterMetrics | None = None,
        *,
        flush_interval_s: float = 0.05,
        heartbeat_s: float = 5.0,
        max_backoff_s: float = 10.0,
    ) -> None:
        self._client = client
        client.on_failure = self._count_failure
        self.cluster = cluster
        self._snapshot = snapshot
        self.metrics = metrics or ReporterMetrics()
        self._flush_interval_s = flush_interval_s
        self._heartbeat_s = heartbeat_s
        self._max_backoff_s = max_backoff_s
        self._pending: dict[ItemKey, pb.MemberStatus] = {}
        self._sent: dict[ItemKey, Signature] = {}
        # Sequences start from the clock, so a new process always counts above its predecessor:
        # a late report from the old process is then stale, not an overwrite.
        self._sequence = time.time_ns() // 1000
        self.epoch = ""
        self._needs_sync = True
        self._wakeup = asyncio.Event()
        self.synced = asyncio.Event()  # set once the first Sync was answered
        self._quiet = asyncio.Event()  # nothing pending, nothing on the wire

    @property
    def pending(self) -> int:
        """How many items wait to be sent."""
        return len(self._pending)

    def offer(self, item: pb.MemberStatus) -> None:
        """Queue ``item`` unless it repeats what was last sent (or is being sent) for its object."""
        key = item_key(item)
        if self._sent.get(key) == signature(item) and key not in self._pending:
            return
        self._pending[key] = item
        self.metrics.pending.set(len(self._pending))
        self._quiet.clear()
        self._wakeup.set()

    def remove(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Queue the removal of an object that left the cluster."""
        ref = pb.ResourceRef(api_version=api_version, kind=kind, namespace=namespace, name=name)
        self.offer(pb.MemberStatus(cluster=self.cluster, resource=ref, removed=True))

    def resync(self) -> None:
        """Send the whole cluster again with the next call (as after an epoch change)."""
        self._needs_sync = True
        self._quiet.clear()
        self._wakeup.set()

    async def flush(self) -> None:
        """Wait until everything offered was answered (``run`` must be running)."""
        await self._quiet.wait()

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

    def _count(self, answer: Answer, items: list[pb.MemberStatus]) -> None:
        for result, item in zip(answer.results, items, strict=False):
            outcome = pb.ItemResult.Outcome.Name(result.outcome).removeprefix("OUTCOME_").lower()
            self.metrics.items.labels(outcome=outcome).inc()
            if result.outcome == pb.ItemResult.OUTCOME_REJECTED:
                log.warning("item %s rejected: %s", "/".join(item_key(item)), result.reason)

    async def _sync(self) -> None:
        covered = dict(self._pending)  # the snapshot includes (or, for removals, omits) these
        snapshot = self._snapshot()
        if inspect.isawaitable(snapshot):
            snapshot = await snapshot
        items = self._stamp(snapshot)
        answer = await self._client.sync(self.cluster, items)
        self.metrics.syncs.inc()
        self._count(answer, items)
        self.epoch = answer.epoch
        self._needs_sync = False
        self._sent = {item_key(i): signature(i) for i in items}
        for key, item in covered.items():
            if self._pending.get(key) is item:
                del self._pending[key]
        self.synced.set()

    def _next_batch(self) -> Iterator[ItemKey]:
        """The keys of the pending items that fit one Report message, oldest first."""
        limits = self._client.limits
        size = MESSAGE_OVERHEAD
        for count, (key, item) in enumerate(self._pending.items()):
            size += encoded_size(item)
            if count and (count >= limits.max_items or size > limits.max_bytes):
                return
            yield key

    async def _send_batch(self) -> None:
        keys = list(self._next_batch())
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
            answer = await self._client.report(items)
        except BaseException:
            for key, item in zip(keys, batch, strict=True):
                self._pending.setdefault(key, item)  # a newer pending item wins
            raise
        self._observe_epoch(answer.epoch)
        self._count(answer, items)

    async def _idle(self) -> None:
        try:
            # not wait_for: on Python 3.11 it swallows a cancellation that arrives as the
            # wakeup fires, and the reporter would never stop
            async with asyncio.timeout(self._heartbeat_s):
                await self._wakeup.wait()
        except TimeoutError:
            self._observe_epoch(await self._client.heartbeat())
        self._wakeup.clear()
        await asyncio.sleep(self._flush_interval_s)

    async def _step(self) -> None:
        try:
            if self._needs_sync:
                await self._sync()
            elif self._pending:
                await self._send_batch()
            else:
                await self._idle()
        finally:
            self.metrics.pending.set(len(self._pending))
            if not self._pending and not self._needs_sync:
                self._quiet.set()

    def _count_failure(self, error: grpc.aio.AioRpcError) -> None:
        self.metrics.rpc_errors.labels(code=error.code().name).inc()

    def _failed(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        assert isinstance(exc, grpc.aio.AioRpcError)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(
            "report to the service failed (%s: %s); retrying in %.1fs",
            exc.code().name,
            exc.details(),
            wait,
        )

    async def run(self) -> None:
        """Send until cancelled: Sync first, then batches of changes and heartbeats."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(grpc.aio.AioRpcError),
            wait=wait_exponential_jitter(multiplier=0.1, max=self._max_backoff_s, jitter=0.1),
            before_sleep=self._failed,
        )
        while True:
            await retrying(self._step)
