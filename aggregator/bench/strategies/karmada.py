"""Karmada's template status write, and the cache-first variant Karmada closed (PR #7128).

``karmada`` follows ``updateResourceStatus`` of Karmada's binding-status controllers: the
variant's workers (Karmada's default: 5) on a client-go work queue (dedup while queued, nothing
more); per aggregation, inside ``retry.RetryOnConflict(retry.DefaultRetry)`` (5 attempts about
10 ms apart): a live GET, the aggregation over the binding's items (fixed for the reconcile), a
deep-equal skip on ``.status``, a PUT of ``/status``, and an ``AggregateStatusSucceed`` Event
after every successful PUT. A member report only triggers it when it changed the member's item,
as a Work status update does. Only this last stage is run (``karmada_full`` adds the stages
before it). At defaults, every request goes through one client limit (QPS 40, burst 60).

``cache_first`` reads the template from an informer cache instead and falls back to a live GET
on a 409 or a cache miss; the cache only learns about writes through its watch.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from aggregator.bench.scenarios import Obj, Report, template_name
from aggregator.bench.strategies.base import (
    ClientGoEvents,
    KeyedWorkers,
    Members,
    RunContext,
    Strategy,
)
from aggregator.kube.client import Conflict, NotFound
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.kube.watchcache import WatchCache
from interpreters import build_registry

RETRY_STEPS = 5
RETRY_DELAY_S = 0.010
RETRY_JITTER = 0.1
COMPONENT = "resource-binding-status-controller"
SUCCEEDED = "AggregateStatusSucceed"
FAILED = "AggregateStatusFailed"
MESSAGE = "Update Resource with AggregatedStatus successfully."


class KarmadaStrategy(Strategy):
    name = "karmada"

    async def start(self, ctx: RunContext) -> None:
        await super().start(ctx)
        self.client = self.make_client()
        self.registry = build_registry(load_plugins=False)
        self.members = Members(ctx.scenario.resources)
        self.events = ClientGoEvents(self.client, COMPONENT)
        self.workers = KeyedWorkers(self.variant.workers, self.name)
        self.events.start()
        self.workers.start(self._sync)

    async def preload(self, batches: Sequence[Sequence[Report]]) -> None:
        for batch in batches:
            for report in batch:
                self.members.apply(report)

    async def deliver(self, wave: int, batches: Sequence[Sequence[Report]]) -> None:
        for batch in batches:
            for report in batch:
                if self.members.apply(report):
                    self.workers.queue.add(report.resource)
            await asyncio.sleep(0)

    async def drain(self) -> None:
        await self.workers.drain()
        await self.events.drain()

    async def stop(self) -> None:
        await self.workers.stop()
        await self.events.stop()
        await self.client.close()

    async def _read(self, name: str, attempt: int) -> Obj | None:
        try:
            return await self.client.get(DEPLOYMENTS, self.ctx.namespace, name)
        except NotFound:
            return None

    async def _sync(self, resource: int) -> None:
        items = self.members.items(resource)
        name = template_name(resource)
        for attempt in range(RETRY_STEPS):
            if attempt:
                await asyncio.sleep(RETRY_DELAY_S * (1 + RETRY_JITTER * random.random()))
            obj = await self._read(name, attempt)
            if obj is None:
                return
            new = self.registry.aggregate(obj, items)
            if obj.get("status") == new.get("status"):
                return
            try:
                await self.client.replace_status(DEPLOYMENTS, new)
            except Conflict as exc:
                if attempt == RETRY_STEPS - 1:
                    self.events.record(obj, "Warning", FAILED, str(exc))
                    raise
                continue
            self.events.record(obj, "Normal", SUCCEEDED, MESSAGE)
            return


class CacheFirstStrategy(KarmadaStrategy):
    name = "cache_first"

    async def start(self, ctx: RunContext) -> None:
        await super().start(ctx)
        self.cache = WatchCache(self.client, DEPLOYMENTS, lambda key, obj: None)
        await self.cache.start()

    async def stop(self) -> None:
        await self.cache.stop()
        await super().stop()

    async def _read(self, name: str, attempt: int) -> Obj | None:
        if attempt == 0:
            cached = self.cache.get((self.ctx.namespace, name))
            if cached is not None:
                return cached
        return await super()._read(name, attempt)
