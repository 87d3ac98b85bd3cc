"""A keyed work queue with client-go semantics, for asyncio.

- a key waiting to be processed is held once, however often it is added (coalescing);
- a key is processed by at most one worker at a time; added while in flight, it is processed
  again after ``done``;
- an optional coalescing delay, and a minimum interval between the starts of two runs of the
  same key, turn a burst of reports for one resource into one or two writes (the interval is
  counted from a run's start, so a key changing exactly once per interval waits for nothing);
  with ``fold_above`` the delay is adaptive: the keys added in one turn of the event loop (one
  ingested batch) are due at once (or when their interval ends) if free workers can take them
  all; more than that is load, and they wait to fold the reports that follow (the other
  clusters' batches of a burst) into one run;
- failures are retried with per-key exponential backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

from aggregator.metrics import Metrics
from aggregator.queuemetrics import QueueMetrics

K = TypeVar("K", bound=Hashable)


class ShutDown(Exception):
    """The queue was shut down and is empty."""


class WorkQueue(Generic[K]):
    def __init__(
        self,
        *,
        coalesce_delay_s: float = 0.0,
        min_interval_s: float = 0.0,
        base_backoff_s: float = 0.05,
        max_backoff_s: float = 60.0,
        fold_above: int = 0,
        metrics: Metrics | None = None,
        name: str = "status",
    ) -> None:
        """``fold_above=0`` applies ``coalesce_delay_s`` to every add; ``name`` labels the
        queue's ``workqueue_*`` metrics."""
        self.coalesce_delay_s = coalesce_delay_s
        self.fold_above = fold_above
        self.min_interval_s = min_interval_s
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self._metrics = metrics
        self._processing: dict[K, float] = {}  # in flight: when each was taken
        self._observer = (
            QueueMetrics(metrics, name, self.__len__, self._processing.values)
            if metrics is not None
            else None
        )
        if metrics is not None:
            metrics.queue_depth.set_function(self.__len__)  # read at scrape time
        self._heap: list[tuple[float, int, K]] = []
        self._scheduled: dict[K, float] = {}
        self._dirty: set[K] = set()
        self._eager: set[K] = set()  # made due at once by _promote, not yet taken
        # idle keys added in this loop turn: (key, when due, the earliest its interval allows)
        self._idle_added: list[tuple[K, float, float]] = []
        self._last_start: dict[K, float] = {}  # when each key's last throttled run began
        self._pruned_size = 0
        self._failures: dict[K, int] = {}
        self._dropped: set[K] = set()  # failed after shut_down: not retried, still reported
        self._counter = itertools.count()
        self._wakeup = asyncio.Event()
        self._shutdown = False

    def __len__(self) -> int:
        """Keys waiting (not counting the ones in flight)."""
        return len(self._scheduled)

    @property
    def in_flight(self) -> int:
        return len(self._processing)

    def processing(self, key: K) -> bool:
        """Whether ``key`` is in flight (handed out by ``get``, not yet ``done``)."""
        return key in self._processing

    def _coalesced(self) -> None:
        if self._metrics is not None:
            self._metrics.keys_coalesced.inc()

    def _schedule(self, key: K, at: float) -> None:
        current = self._scheduled.get(key)
        if current is not None and current <= at:
            self._coalesced()
            return
        if current is None and self._observer is not None:
            self._observer.added()
        self._scheduled[key] = at
        heapq.heappush(self._heap, (at, next(self._counter), key))
        self._wakeup.set()

    def add(self, key: K) -> None:
        """Ask for ``key`` to be processed (soon, respecting the delays)."""
        if self._shutdown:
            return
        if key in self._processing:
            if key in self._dirty:
                self._coalesced()
            self._dirty.add(key)
            return
        now = time.monotonic()
        earliest = now
        last = self._last_start.get(key)
        if last is not None and last + self.min_interval_s > now:
            earliest = last + self.min_interval_s
        at = max(now + self.coalesce_delay_s, earliest)
        if self.fold_above and key not in self._scheduled:
            self._idle_added.append((key, at, earliest))
            if len(self._idle_added) == 1:
                asyncio.get_running_loop().call_soon(self._promote)
        self._schedule(key, at)

    def _promote(self) -> None:
        """Make this turn's idle keys due as early as their minimum interval allows (at once,
        for most) if free workers can take every one of them."""
        added, self._idle_added = self._idle_added, []
        now = time.monotonic()
        wanted = sum(1 for _, _, earliest in added if earliest <= now)
        if wanted > self.fold_above - len(self._eager) - len(self._processing):
            return  # load: keep the delay, and fold what follows
        for key, at, earliest in added:
            # only a key still waiting as added (not taken, not moved), and only sooner
            if self._scheduled.get(key) == at and earliest < at:
                if earliest <= now:
                    self._eager.add(key)
                self._schedule(key, max(now, earliest))

    def add_after(self, key: K, delay_s: float) -> None:
        if self._shutdown:
            return
        if key in self._processing:
            self._dirty.add(key)
            return
        self._schedule(key, time.monotonic() + delay_s)

    async def get(self) -> K:
        """Wait for the next key that is due; it is in flight until ``done``."""
        while True:
            now = time.monotonic()
            while self._heap:
                at, _, key = self._heap[0]
                if self._scheduled.get(key) != at:
                    heapq.heappop(self._heap)  # superseded by an earlier schedule
                    continue
                if at > now:
                    break
                heapq.heappop(self._heap)
                del self._scheduled[key]
                self._eager.discard(key)
                self._processing[key] = now
                if self._observer is not None:
                    self._observer.started(now - at)
                return key
            if self._shutdown and not self._scheduled:
                raise ShutDown
            self._wakeup.clear()
            timeout = self._heap[0][0] - now if self._heap else None
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that
            # arrives as the event fires, and a stopping worker would keep running
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wakeup.wait()

    def done(
        self, key: K, *, failed: bool = False, throttle: bool = True, after: float | None = None
    ) -> float | None:
        """Finish ``key``. If it failed, retry it with backoff and return the delay.

        ``throttle=False`` (a run that wrote nothing) does not start a new minimum interval;
        ``after`` runs the key again that many seconds later (an ``add`` meanwhile, sooner)."""
        now = time.monotonic()
        started = self._processing.pop(key, None)
        if self._observer is not None and started is not None:
            self._observer.finished(started)
        if throttle:
            self._last_start[key] = now if started is None else started
            self._prune_last_start(now)
        if failed:
            if self._observer is not None:
                self._observer.retried()
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
            delay = min(self.base_backoff_s * 2.0 ** (failures - 1), self.max_backoff_s)
            self._dirty.discard(key)
            if self._shutdown:
                self._dropped.add(key)
            else:
                self._schedule(key, now + delay)
            return delay
        self._failures.pop(key, None)
        if after is not None:
            self._dirty.discard(key)
            if self._shutdown:
                self._dropped.add(key)
            else:
                self._schedule(key, now + after)
            return None
        if key in self._dirty:
            self._dirty.discard(key)
            if self._shutdown:
                # the change arrived before shut_down: drain it with the other waiting keys
                self._schedule(key, now)
            else:
                self.add(key)
        return None

    def _prune_last_start(self, now: float) -> None:
        """Forget start times older than the minimum interval, once the map has doubled since
        the last prune (amortised O(1) per ``done``)."""
        if len(self._last_start) <= max(4096, 2 * self._pruned_size):
            return
        horizon = now - self.min_interval_s
        self._last_start = {k: t for k, t in self._last_start.items() if t > horizon}
        self._pruned_size = len(self._last_start)

    def shut_down(self) -> None:
        """Stop accepting keys; ``get`` raises ShutDown once the waiting keys are drained."""
        self._shutdown = True
        now = time.monotonic()
        for key in list(self._scheduled):
            self._scheduled[key] = now
            heapq.heappush(self._heap, (now, next(self._counter), key))
        self._wakeup.set()

    def pending(self) -> list[K]:
        """Keys waiting, in flight, or failed after shut_down (for shutdown reports)."""
        return [*self._scheduled, *self._processing, *self._dropped]
