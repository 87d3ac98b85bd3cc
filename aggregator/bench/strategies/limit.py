"""The physical ceiling: PUT ``/status`` as fast as this API server takes it, no aggregation.

``limit`` is handed the statuses the offline replay computed and PUTs each change with the
resourceVersion its previous PUT returned (no reads), ``EQUAL_CONCURRENCY`` in flight, one per
template; a 409 (only another writer causes one) is followed by a GET.
"""

from __future__ import annotations

from collections.abc import Sequence

from aggregator.bench.scenarios import Obj, Report, template_name
from aggregator.bench.strategies.base import KeyedWorkers, RunContext, Strategy
from aggregator.bench.strategies.karmada import RETRY_STEPS
from aggregator.kube.client import Conflict
from aggregator.kube.resources import DEPLOYMENTS


class LimitStrategy(Strategy):
    name = "limit"

    async def start(self, ctx: RunContext) -> None:
        await super().start(ctx)
        self.client = self.make_client()
        listing = await self.client.list(DEPLOYMENTS, ctx.namespace)
        by_name = {obj["metadata"]["name"]: obj for obj in listing["items"]}
        self.objects = [by_name[template_name(r)] for r in range(ctx.scenario.resources)]
        self.writes = ctx.replay.by_wave(len(ctx.scenario.waves))
        self.desired: dict[int, Obj] = {}
        self.workers = KeyedWorkers(self.variant.workers, self.name)
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
