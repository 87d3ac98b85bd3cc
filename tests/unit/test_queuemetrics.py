"""The work queue's client-go metrics (``workqueue_*{name="status"}``)."""

from __future__ import annotations

from aggregator.metrics import Metrics
from aggregator.workqueue import WorkQueue


def sample(metrics: Metrics, name: str) -> float:
    value = metrics.registry.get_sample_value(name, {"name": "status"})
    assert value is not None, name
    return value


async def test_adds_waits_work_and_retries_are_counted() -> None:
    metrics = Metrics()
    q: WorkQueue[str] = WorkQueue(metrics=metrics, base_backoff_s=0.001)
    q.add("a")
    q.add("a")  # folded: not an add
    q.add("b")
    assert sample(metrics, "workqueue_adds_total") == 2
    assert sample(metrics, "workqueue_depth") == 2
    key = await q.get()
    assert sample(metrics, "workqueue_depth") == 1
    assert sample(metrics, "workqueue_queue_duration_seconds_count") == 1
    assert sample(metrics, "workqueue_longest_running_processor_seconds") > 0
    assert sample(metrics, "workqueue_unfinished_work_seconds") > 0
    q.done(key, failed=True)  # retried after a backoff: an add again
    assert sample(metrics, "workqueue_retries_total") == 1
    assert sample(metrics, "workqueue_adds_total") == 3
    assert sample(metrics, "workqueue_work_duration_seconds_count") == 1
    assert sample(metrics, "workqueue_longest_running_processor_seconds") == 0
    assert sample(metrics, "workqueue_unfinished_work_seconds") == 0
    for _ in range(2):
        q.done(await q.get())
    assert sample(metrics, "workqueue_work_duration_seconds_count") == 3
    assert sample(metrics, "workqueue_queue_duration_seconds_count") == 3
    assert sample(metrics, "workqueue_depth") == 0


async def test_an_add_while_in_flight_is_counted_when_it_is_queued() -> None:
    metrics = Metrics()
    q: WorkQueue[str] = WorkQueue(metrics=metrics)
    q.add("a")
    key = await q.get()
    q.add("a")
    q.add("a")
    assert sample(metrics, "workqueue_adds_total") == 1
    q.done(key)
    assert sample(metrics, "workqueue_adds_total") == 2
    assert sample(metrics, "workqueue_depth") == 1
