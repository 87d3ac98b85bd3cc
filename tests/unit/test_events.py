"""EventRecorder budgets (pure logic: events are only queued, the recorder is not started)."""

from __future__ import annotations

from typing import Any

from aggregator.events import EventRecorder, EventSettings
from aggregator.kube.client import KubeClient
from aggregator.metrics import Metrics


def recorder(**settings: Any) -> EventRecorder:
    client: KubeClient = object()  # type: ignore[assignment]  # never called: not started
    return EventRecorder(client, EventSettings(**settings), Metrics())


def template(i: int) -> dict[str, Any]:
    return {"metadata": {"name": f"t-{i}", "namespace": "default", "uid": f"uid-{i}"}}


def test_normal_events_are_held_to_their_share_of_the_writes() -> None:
    events = recorder(normal_share=0.25)
    written = [events.record(template(i), "Normal", "Succeeded", lambda: "ok") for i in range(12)]
    # the first write gets one; every fourth write after it earns the next
    assert [i for i, ok in enumerate(written) if ok] == [0, 4, 8]


def test_warnings_are_not_held_to_the_share_of_normal_events() -> None:
    events = recorder(normal_share=0.25)
    assert events.record(template(0), "Normal", "Succeeded", lambda: "ok")
    assert not events.record(template(1), "Normal", "Succeeded", lambda: "ok")
    assert all(events.record(template(i), "Warning", "Failed", lambda: "no") for i in range(5))


def test_default_share_adds_at_most_one_event_per_hundred_writes() -> None:
    events = recorder(global_burst=1000)
    written = sum(events.record(template(i), "Normal", "S", lambda: "ok") for i in range(1000))
    assert 1 <= written <= 11
