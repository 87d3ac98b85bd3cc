"""What every strategy gets and provides, and the parts the controller-style baselines share."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from aggregator.bench.replay import Replay
from aggregator.bench.scenarios import Obj, Report, Scenario, aggregated_status_item
from aggregator.bench.variants import Variant
from aggregator.kube.client import ApiError, KubeClient
from aggregator.kube.config import load_cluster_access
from aggregator.kube.ratelimit import TokenBucket
from aggregator.kube.resources import EVENTS
from aggregator.workqueue import ShutDown, WorkQueue

log = logging.getLogger(__name__)


SyncFn = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class RunContext:
    kubeconfig: Path
    namespace: str
    scenario: Scenario
    replay: Replay


class Strategy(abc.ABC):
    """One way of turning member reports into template statuses, with the settings of one
    variant (workers, client limit).

    ``start`` and ``preload`` are set-up (not measured); ``deliver`` hands over one wave, one
    batch per member cluster; ``drain`` returns once nothing is queued or in flight.
    """

    name: ClassVar[str]

    def __init__(self, variant: Variant) -> None:
        self.variant = variant

    def make_client(self) -> KubeClient:
        """A client with the variant's client-side limit."""
        return bench_client(self.ctx.kubeconfig, self.variant.qps, self.variant.burst)

    async def start(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def preload(self, batches: Sequence[Sequence[Report]]) -> None:  # noqa: B027
        """Reports the member clusters made before the run; the templates already show them."""

    @abc.abstractmethod
    async def deliver(self, wave: int, batches: Sequence[Sequence[Report]]) -> None: ...

    @abc.abstractmethod
    async def drain(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...


def bench_client(kubeconfig: Path, qps: float = 0.0, burst: int = 0) -> KubeClient:
    """A client limited to ``qps`` (burst ``burst``) requests per second; 0: no client-side
    limit, the API server's pace."""
    return KubeClient(
        load_cluster_access(kubeconfig), qps=qps, burst=burst, user_agent="statusagg-bench"
    )


async def wait_idle(queue: WorkQueue[Any]) -> None:
    """Poll until ``queue`` has nothing waiting or in flight."""
    while True:
        if not len(queue) and not queue.in_flight:
            return
        await asyncio.sleep(0.01)


class Members:
    """The latest item per (resource, cluster), as a Karmada binding's aggregatedStatus holds."""

    def __init__(self, resources: int) -> None:
        self._items: list[dict[int, Obj]] = [{} for _ in range(resources)]
        self._versions: list[dict[int, int]] = [{} for _ in range(resources)]

    def apply(self, report: Report) -> bool:
        """Store a report; whether it changed the item (Karmada only reacts to changed Works)."""
        item = aggregated_status_item(report.cluster, report.version)
        members = self._items[report.resource]
        if members.get(report.cluster) is item:
            return False
        members[report.cluster] = item
        self._versions[report.resource][report.cluster] = report.version
        return True

    def latest(self, resource: int, cluster: int) -> Obj:
        return self._items[resource][cluster]

    def version(self, resource: int, cluster: int) -> int:
        return self._versions[resource][cluster]

    def items(self, resource: int) -> list[Obj]:
        members = self._items[resource]
        return [members[c] for c in sorted(members)]


class ClientGoEvents:
    """Events as client-go's recorder writes them for a controller such as Karmada's.

    ``record`` never blocks: events wait in a bounded queue (dropped when full) and one writer
    sends them in order. Its correlator lets 25 events per object through, then one every 5
    minutes, and turns a repeat of an identical event into a PATCH of its count.
    """

    SPAM_BURST = 25
    SPAM_QPS = 1 / 300
    QUEUE = 1000

    def __init__(self, client: KubeClient, component: str) -> None:
        self._client = client
        self._component = component
        self._queue: asyncio.Queue[tuple[Obj, str, str, str]] = asyncio.Queue(self.QUEUE)
        self._spam: dict[str, TokenBucket] = {}
        self._seen: dict[tuple[str, str, str, str], tuple[str, int]] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"{self._component} events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def drain(self) -> None:
        await self._queue.join()

    def record(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait((obj, event_type, reason, message))

    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._write(*event)
            except (ApiError, OSError, TimeoutError) as exc:
                log.warning("event not recorded: %s", exc)
            finally:
                self._queue.task_done()

    async def _write(self, obj: Obj, event_type: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        uid, namespace = str(meta.get("uid", "")), meta.get("namespace", "default")
        bucket = self._spam.setdefault(uid, TokenBucket(self.SPAM_QPS, self.SPAM_BURST))
        if not bucket.try_acquire():
            return
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        key = (uid, event_type, reason, message)
        seen = self._seen.get(key)
        if seen is not None:
            name, count = seen
            self._seen[key] = (name, count + 1)
            await self._client.patch(
                EVENTS, namespace, name, {"count": count + 1, "lastTimestamp": stamp}
            )
            return
        name = f"{meta['name']}.{uuid.uuid4().hex[:16]}"
        await self._client.create(
            EVENTS,
            {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "apiVersion": obj.get("apiVersion", ""),
                    "kind": obj.get("kind", ""),
                    "namespace": namespace,
                    "name": meta["name"],
                    "uid": uid,
                    "resourceVersion": meta.get("resourceVersion", ""),
                },
                "type": event_type,
                "reason": reason,
                "message": message,
                "source": {"component": self._component},
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            },
        )
        self._seen[key] = (name, 1)


class KeyedWorkers:
    """client-go's work queue with ``workers`` goroutines: a key waits once however often it is
    added, runs on one worker at a time, and is retried with exponential backoff on error."""

    def __init__(self, workers: int, name: str) -> None:
        self.queue: WorkQueue[int] = WorkQueue(base_backoff_s=0.005, max_backoff_s=1000.0)
        self._workers = workers
        self._name = name
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, sync: SyncFn) -> None:
        self._tasks = [
            asyncio.create_task(self._run(sync), name=f"{self._name}-{i}")
            for i in range(self._workers)
        ]

    async def _run(self, sync: SyncFn) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            failed = False
            try:
                await sync(key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failed = True
                log.debug("%s: key %d failed: %s", self._name, key, exc)
            self.queue.done(key, failed=failed)

    async def drain(self) -> None:
        await wait_idle(self.queue)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
