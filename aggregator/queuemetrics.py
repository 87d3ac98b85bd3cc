"""client-go's work-queue metrics (``workqueue_*``, label ``name``) for one queue."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection

from aggregator.metrics import Metrics


class QueueMetrics:
    """What a work queue reports: adds, waits, work durations, retries and the work in flight.

    Depth and the in-flight gauges are read at scrape time: ``depth`` counts the keys waiting,
    ``in_flight`` gives the monotonic start time of each key being processed."""

    def __init__(
        self,
        metrics: Metrics,
        name: str,
        depth: Callable[[], int],
        in_flight: Callable[[], Collection[float]],
    ) -> None:
        self._adds = metrics.workqueue_adds.labels(name=name)
        self._waits = metrics.workqueue_queue_duration.labels(name=name)
        self._work = metrics.workqueue_work_duration.labels(name=name)
        self._retries = metrics.workqueue_retries.labels(name=name)
        self._in_flight = in_flight
        metrics.workqueue_depth.labels(name=name).set_function(depth)
        metrics.workqueue_unfinished_work.labels(name=name).set_function(self.unfinished_work)
        metrics.workqueue_longest_running.labels(name=name).set_function(self.longest_running)

    def added(self) -> None:
        self._adds.inc()

    def started(self, waited_s: float) -> None:
        """A worker took a key ``waited_s`` seconds after it was due."""
        self._waits.observe(max(waited_s, 0.0))

    def finished(self, started: float) -> None:
        """A key taken at monotonic time ``started`` is done."""
        self._work.observe(time.monotonic() - started)

    def retried(self) -> None:
        self._retries.inc()

    def unfinished_work(self) -> float:
        now = time.monotonic()
        return sum(now - started for started in self._in_flight())

    def longest_running(self) -> float:
        starts = self._in_flight()
        return time.monotonic() - min(starts) if starts else 0.0
