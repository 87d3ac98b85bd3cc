"""Kubernetes Events on updated templates, without doubling the API traffic.

Events are written in the background (a bounded queue), identical repeats within a window fold
into the count of one Event object, and two token buckets (per object and global) bound how many
event writes the service makes; Normal events (after status writes) are further held to a share
of the status writes. Dropped events are counted, never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aggregator.kube.client import ApiError, KubeClient
from aggregator.kube.ratelimit import TokenBucket
from aggregator.kube.resources import EVENTS
from aggregator.metrics import Metrics

log = logging.getLogger(__name__)

COMPONENT = "statusagg"


@dataclass(frozen=True)
class EventSettings:
    enabled: bool = True
    per_object_qps: float = 1 / 60
    per_object_burst: int = 1
    global_qps: float = 5.0
    global_burst: int = 25
    # Normal events (one may follow each status write) earn this share of an event per write,
    # starting with one: they add at most 1% to the requests of status writes
    normal_share: float = 0.01
    fold_window_s: float = 600.0
    queue_size: int = 1000


@dataclass
class _Folded:
    name: str
    namespace: str
    count: int
    last: float


def _now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Records Normal/Warning events about objects (``involvedObject`` pins the resourceVersion)."""

    def __init__(self, client: KubeClient, settings: EventSettings, metrics: Metrics) -> None:
        self._client = client
        self._settings = settings
        self._metrics = metrics
        self._queue: asyncio.Queue[tuple[dict[str, Any], str, str, str]] = asyncio.Queue(
            settings.queue_size
        )
        self._global = TokenBucket(settings.global_qps, settings.global_burst)
        self._normal_credit = 1.0
        self._per_object: dict[str, TokenBucket] = {}
        self._folded: dict[tuple[str, str, str, str], _Folded] = {}
        self._instance = os.environ.get("POD_NAME") or socket.gethostname()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None and self._settings.enabled:
            self._task = asyncio.create_task(self._run(), name="event recorder")

    async def stop(self, grace_s: float = 2.0) -> None:
        if self._task is None:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._queue.join(), grace_s)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def record(
        self, obj: dict[str, Any], event_type: str, reason: str, message: Callable[[], str]
    ) -> bool:
        """Queue an event about ``obj``; return False if a rate limit or a full queue dropped it.

        ``message`` is only called for events that will be written.
        """
        if not self._settings.enabled:
            return False
        if event_type == "Normal" and not self._normal_allowed():
            self._metrics.events.labels(outcome="limited").inc()
            return False
        # each reason has a bucket per object: a success or a failed write never silences
        # the write-war warning that follows it
        uid = str(obj.get("metadata", {}).get("uid", "")) + "/" + reason
        bucket = self._per_object.get(uid)
        if bucket is None:
            bucket = self._per_object[uid] = TokenBucket(
                self._settings.per_object_qps, self._settings.per_object_burst
            )
            if len(self._per_object) > 50_000:
                self._per_object.pop(next(iter(self._per_object)))
        if not bucket.try_acquire() or not self._global.try_acquire():
            self._metrics.events.labels(outcome="limited").inc()
            return False
        try:
            self._queue.put_nowait((obj, event_type, reason, message()))
        except asyncio.QueueFull:
            self._metrics.events.labels(outcome="dropped").inc()
            return False
        return True

    def _normal_allowed(self) -> bool:
        """Spend the credit Normal events earn, ``normal_share`` of an event per call."""
        credit = self._normal_credit
        self._normal_credit = min(credit + self._settings.normal_share, self._settings.global_burst)
        if credit < 1:
            return False
        self._normal_credit -= 1
        return True

    async def _run(self) -> None:
        while True:
            obj, event_type, reason, message = await self._queue.get()
            try:
                await self._write(obj, event_type, reason, message)
            except (TimeoutError, ApiError, OSError) as exc:
                self._metrics.events.labels(outcome="failed").inc()
                log.warning(
                    "event %s on %s not recorded: %s",
                    reason,
                    obj.get("metadata", {}).get("name"),
                    exc,
                )
            except Exception:
                self._metrics.events.labels(outcome="failed").inc()
                log.exception("event %s not recorded", reason)
            finally:
                self._queue.task_done()

    async def _write(self, obj: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        fold_key = (str(meta.get("uid", "")), event_type, reason, message)
        now = time.monotonic()
        folded = self._folded.get(fold_key)
        stamp = _now_rfc3339()
        if folded is not None and now - folded.last < self._settings.fold_window_s:
            folded.count += 1
            folded.last = now
            await self._client.patch(
                EVENTS,
                folded.namespace,
                folded.name,
                {"count": folded.count, "lastTimestamp": stamp},
            )
            self._metrics.events.labels(outcome="folded").inc()
            return
        name = f"{meta['name']}.{uuid.uuid4().hex[:16]}"
        event = {
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", ""),
                "kind": obj.get("kind", ""),
                "namespace": meta.get("namespace", ""),
                "name": meta["name"],
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        await self._client.create(EVENTS, event)
        self._folded[fold_key] = _Folded(name, namespace, 1, now)
        if len(self._folded) > 10_000:
            self._folded.pop(next(iter(self._folded)))
        self._metrics.events.labels(outcome="created").inc()
