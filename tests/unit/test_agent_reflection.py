"""The agent's off-loop reflection keeps the order of an object's changes: a removal is never
overtaken by an older reflection, and the latest state of a changed object is the last offered."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aggregator.agent.run import Agent, AgentOptions
from aggregator.client import StatusClient
from tests.helpers import eventually

KEY = ("ns", "a")


class HeldRegistry:
    """Reflects the whole status, but holds each call until released."""

    def __init__(self) -> None:
        self.documents: list[Any] = []
        self.entered = threading.Semaphore(0)
        self.release = threading.Semaphore(0)

    def reflect(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        self.entered.release()
        self.release.acquire()
        status: dict[str, Any] | None = obj.get("status")
        return status

    def health(self, obj: dict[str, Any]) -> bool | None:
        return True


def deployment(ready: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "a", "namespace": "ns", "annotations": {"work.karmada.io/name": "w"}},
        "status": {"readyReplicas": ready},
    }


@pytest.fixture
async def agent() -> AsyncIterator[tuple[Agent, HeldRegistry]]:
    registry = HeldRegistry()
    options = AgentOptions(cluster="east", server="", kinds=[("apps/v1", "Deployment")])
    agent = Agent(options, None, registry, StatusClient(None))  # type: ignore[arg-type]
    task = asyncio.create_task(agent.reflect_changes())
    yield agent, registry
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await agent.stop()


async def entered(registry: HeldRegistry) -> None:
    await asyncio.to_thread(registry.entered.acquire)


async def settled(agent: Agent) -> None:
    async def reflected() -> bool:
        return not agent.unreflected

    await eventually(reflected, within=10, interval=0.01)


def pending(agent: Agent) -> Any:
    [item] = agent.reporter._pending.values()
    return item


async def test_a_removal_is_not_overtaken_by_an_older_reflection(
    agent: tuple[Agent, HeldRegistry],
) -> None:
    member, registry = agent
    changed = member._handler("apps/v1", "Deployment")
    changed(KEY, deployment(1))
    await entered(registry)  # the reflection of ready=1 is under way
    changed(KEY, None)
    registry.release.release()
    await settled(member)
    assert pending(member).removed


async def test_the_latest_state_of_a_changed_object_is_offered_last(
    agent: tuple[Agent, HeldRegistry],
) -> None:
    member, registry = agent
    changed = member._handler("apps/v1", "Deployment")
    changed(KEY, deployment(1))
    await entered(registry)
    changed(KEY, deployment(2))
    changed(KEY, deployment(3))  # replaces ready=2, which is never reflected
    registry.release.release()
    await entered(registry)
    registry.release.release()
    await settled(member)
    item = pending(member)
    assert not item.removed
    assert json.loads(item.status_json) == {"readyReplicas": 3}
