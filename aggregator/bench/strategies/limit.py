"""The physical ceiling: PUT ``/status`` as fast as this API server takes it, no aggregation.

In a scenario, ``limit`` is handed the statuses the offline replay computed and PUTs each
change with the resourceVersion its previous PUT returned (no reads), many at a time, one in
flight per template; a 409 (only another writer causes one) is followed by a GET.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from pathlib import Path

from aggregator.bench.objects import bounded, create_templates, remove_objects
from aggregator.bench.scenarios import REPLICAS, Obj, Report, template_name
from aggregator.bench.strategies.base import KeyedWorkers, RunContext, Strategy, bench_client
from aggregator.bench.strategies.karmada import RETRY_STEPS
from aggregator.kube.client import Conflict, KubeClient
from aggregator.kube.resources import DEPLOYMENTS

CONCURRENCY = 32


class LimitStrategy(Strategy):
    name = "limit"

    async def start(self, ctx: RunContext) -> None:
        await super().start(ctx)
        self.client = bench_client(ctx.kubeconfig)
        listing = await self.client.list(DEPLOYMENTS, ctx.namespace)
        by_name = {obj["metadata"]["name"]: obj for obj in listing["items"]}
        self.objects = [by_name[template_name(r)] for r in range(ctx.scenario.resources)]
        self.writes = ctx.replay.by_wave(len(ctx.scenario.waves))
        self.desired: dict[int, Obj] = {}
        self.workers = KeyedWorkers(CONCURRENCY, self.name)
        self.workers.start(self._put)

    async def deliver(self, wave: int, batches: Sequence[Sequence[Report]]) -> None:
        for resource, status in self.writes[wave]:
            self.desired[resource] = status
            self.workers.queue.add(resource)

    async def drain(self) -> None:
        await self.workers.drain()

    async def stop(self) -> None:
        await self.workers.stop()
        await self.client.close()

    async def _put(self, resource: int) -> None:
        status = self.desired[resource]
        for _ in range(RETRY_STEPS):
            obj = self.objects[resource]
            try:
                self.objects[resource] = await self.client.replace_status(
                    DEPLOYMENTS, {**obj, "status": status}
                )
                return
            except Conflict:
                meta = obj["metadata"]
                self.objects[resource] = await self.client.get(
                    DEPLOYMENTS, meta["namespace"], meta["name"]
                )
        raise RuntimeError(f"{template_name(resource)}: still conflicting")


async def _put_all(client: KubeClient, objects: list[Obj], status: Obj) -> list[Obj]:
    return await bounded(
        objects,
        lambda obj: client.replace_status(DEPLOYMENTS, {**obj, "status": status}),
        CONCURRENCY,
    )


async def _watch(client: KubeClient, namespace: str, resource_version: str) -> None:
    async for _ in client.watch(DEPLOYMENTS, resource_version, namespace=namespace):
        pass


async def status_puts_per_s(kubeconfig: Path, namespace: str, count: int, rounds: int = 3) -> float:
    """The best of ``rounds`` rounds of one ``/status`` PUT per template over ``count`` templates,
    ``CONCURRENCY`` in flight, in PUTs per second (the first rounds warm the API server up).

    A watch on the templates runs meanwhile, as the bench's observer does during every run."""
    async with bench_client(kubeconfig) as client:
        objects = await create_templates(client, namespace, count)
        listing = await client.list(DEPLOYMENTS, namespace)
        watch = asyncio.create_task(
            _watch(client, namespace, str(listing["metadata"]["resourceVersion"]))
        )
        best = 0.0
        for ready in range(1, rounds + 1):
            status = {"replicas": REPLICAS, "readyReplicas": ready, "observedGeneration": 1}
            started = time.monotonic()
            objects = await _put_all(client, objects, status)
            best = max(best, count / (time.monotonic() - started))
        watch.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watch
        await remove_objects(client, namespace)
    return best
