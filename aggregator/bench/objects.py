"""Create and remove the objects of a run: a namespace, its templates, their first statuses."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from aggregator.bench.scenarios import Obj, template
from aggregator.kube.client import KubeClient
from aggregator.kube.resources import DEPLOYMENTS, EVENTS, NAMESPACES

CONCURRENCY = 32

T = TypeVar("T")
R = TypeVar("R")


async def bounded(
    items: Iterable[T], call: Callable[[T], Awaitable[R]], concurrency: int = CONCURRENCY
) -> list[R]:
    """``call`` on every item, at most ``concurrency`` at a time, results in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(item: T) -> R:
        async with gate:
            return await call(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


async def create_templates(
    client: KubeClient, namespace: str, resources: int, statuses: list[Obj] | None = None
) -> list[Obj]:
    """A fresh namespace with ``resources`` templates, with ``statuses`` written if given."""
    await client.create(NAMESPACES, {"metadata": {"name": namespace}})
    created = await bounded(
        range(resources), lambda r: client.create(DEPLOYMENTS, template(namespace, r))
    )
    if not statuses:
        return created
    return await bounded(
        range(resources),
        lambda r: client.replace_status(DEPLOYMENTS, {**created[r], "status": statuses[r]}),
    )


async def remove_objects(client: KubeClient, namespace: str) -> None:
    """Delete the run's templates and events (namespaces never finish terminating here)."""
    for rt in (DEPLOYMENTS, EVENTS):
        await client.request("DELETE", rt.collection_path(namespace), verb="deletecollection")
