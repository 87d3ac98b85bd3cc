"""Cache-first optimistic status writes.

The first attempt uses the cached object (no read); the object the server returns goes straight
into the cache. A 409 means someone else changed the object: read it live, compute the desired
status again from the current member items, compare, and write again, a bounded number of times
(the first re-read at once, the next ones after a jittered backoff).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from aggregator.kube.client import APPLY_PATCH, ApiError, Conflict, KubeClient, NotFound, Obj
from aggregator.kube.resources import ResourceType
from aggregator.kube.watchcache import WatchCache
from aggregator.metrics import Metrics
from aggregator.normalize import same_json

FIELD_MANAGER = "statusagg"


class WriteMode(enum.StrEnum):
    UPDATE = "update"  # PUT /status with the resourceVersion precondition
    MERGE_PATCH = "merge-patch"  # JSON merge patch of /status with a resourceVersion precondition
    APPLY = "apply"  # server-side apply of the status, always as field manager "statusagg"


class Result(enum.StrEnum):
    WRITTEN = "written"
    SKIPPED = "skipped"
    NOT_FOUND = "not-found"
    FENCED = "fenced"  # this replica may no longer write the object


@dataclass(frozen=True)
class WriteOutcome:
    result: Result
    before: Obj | None = None  # the object the final attempt started from
    after: Obj | None = None  # the object the server returned
    desired: dict[str, Any] | None = None
    attempts: int = 1


DesiredFn = Callable[[Obj], Awaitable[dict[str, Any]]]
CurrentFn = Callable[[Obj, dict[str, Any]], bool]
FenceFn = Callable[[], bool]


def merge_patch(old: Any, new: Any) -> Any:
    """The RFC 7386 merge patch turning ``old`` into ``new`` (nulls delete keys)."""
    if not isinstance(old, dict) or not isinstance(new, dict):
        return new
    patch: dict[str, Any] = {}
    for name in old.keys() - new.keys():
        patch[name] = None
    for name, value in new.items():
        if name not in old:
            patch[name] = value
        elif not same_json(old[name], value):
            patch[name] = merge_patch(old[name], value)
    return patch


class StatusWriter:
    """Writes ``.status`` of one object at a time; the caller ensures one write per object."""

    def __init__(
        self,
        client: KubeClient,
        metrics: Metrics,
        *,
        max_attempts: int = 5,
        backoff_max_s: float = 0.5,
        field_manager: str = FIELD_MANAGER,
    ) -> None:
        self._client = client
        self._field_manager = field_manager
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._backoff_max_s = backoff_max_s

    async def write(
        self,
        rt: ResourceType,
        cache: WatchCache,
        cached: Obj,
        desired_of: DesiredFn,
        is_current: CurrentFn,
        mode: WriteMode,
        may_write: FenceFn | None = None,
    ) -> WriteOutcome:
        """Bring ``.status`` to ``desired_of(obj)``; raises Conflict once attempts run out.

        ``may_write`` is asked right before each request; once it says no, nothing is sent."""
        try:
            # the first attempt, from the cache, without the retry machinery: most writes end here
            return await self._attempt(
                rt, cache, cached, 1, desired_of, is_current, mode, may_write
            )
        except Conflict:
            if self._max_attempts <= 1:
                raise
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_attempts - 1),
            wait=wait_random_exponential(multiplier=0.01, max=self._backoff_max_s),
            retry=retry_if_exception_type(Conflict),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._attempt(
                    rt,
                    cache,
                    cached,
                    attempt.retry_state.attempt_number + 1,
                    desired_of,
                    is_current,
                    mode,
                    may_write,
                )
        raise AssertionError("unreachable: tenacity either returns or re-raises")

    async def _attempt(
        self,
        rt: ResourceType,
        cache: WatchCache,
        cached: Obj,
        number: int,
        desired_of: DesiredFn,
        is_current: CurrentFn,
        mode: WriteMode,
        may_write: FenceFn | None,
    ) -> WriteOutcome:
        """One attempt: after the first, from a live read."""
        obj = cached
        if number > 1:
            meta = cached["metadata"]
            try:
                obj = await self._client.get(rt, meta.get("namespace"), meta["name"])
            except NotFound:
                return WriteOutcome(Result.NOT_FOUND, attempts=number)
            cache.put(obj)
        desired = await desired_of(obj)
        if is_current(obj, desired):
            return WriteOutcome(Result.SKIPPED, obj, obj, desired, number)
        if may_write is not None and not may_write():
            return WriteOutcome(Result.FENCED, attempts=number)
        try:
            written = await self._send(rt, obj, desired, mode)
        except Conflict:
            self._metrics.conflicts.inc()
            self._metrics.writes.labels(mode=mode.value, result="conflict").inc()
            raise
        except NotFound:
            self._metrics.writes.labels(mode=mode.value, result="not-found").inc()
            return WriteOutcome(Result.NOT_FOUND, attempts=number)
        except ApiError:
            self._metrics.writes.labels(mode=mode.value, result="error").inc()
            raise
        self._metrics.writes.labels(mode=mode.value, result="ok").inc()
        cache.put(written)
        return WriteOutcome(Result.WRITTEN, obj, written, desired, number)

    async def _send(
        self, rt: ResourceType, obj: Obj, desired: dict[str, Any], mode: WriteMode
    ) -> Obj:
        meta = obj["metadata"]
        namespace, name = meta.get("namespace"), meta["name"]
        manager = {"fieldManager": self._field_manager}
        if mode is WriteMode.UPDATE:
            return await self._client.replace_status(rt, {**obj, "status": desired}, manager)
        if mode is WriteMode.MERGE_PATCH:
            patch = {
                "metadata": {"resourceVersion": meta["resourceVersion"]},
                "status": merge_patch(obj.get("status") or {}, desired),
            }
            return await self._client.patch(
                rt, namespace, name, patch, subresource="status", params=manager
            )
        applied = {
            "apiVersion": rt.api_version,
            "kind": rt.kind,
            "metadata": {"name": name, **({"namespace": namespace} if namespace else {})},
            "status": desired,
        }
        return await self._client.patch(
            rt,
            namespace,
            name,
            applied,
            content_type=APPLY_PATCH,
            subresource="status",
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
        )
