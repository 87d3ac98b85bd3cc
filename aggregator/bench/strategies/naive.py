"""The simplest correct writer: for every report, GET the template, aggregate, PUT the status.

Reports are handled in arrival order by the variant's workers (default 5, as many as
Karmada's), without folding or
skipping; a 409 is retried with a fresh GET like client-go's ``RetryOnConflict``. No events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from aggregator.bench.scenarios import Report, template_name
from aggregator.bench.strategies.base import (
    Members,
    RunContext,
    Strategy,
)
from aggregator.bench.strategies.karmada import RETRY_DELAY_S, RETRY_STEPS
from aggregator.kube.client import ApiError, Conflict, NotFound
from aggregator.kube.resources import DEPLOYMENTS
from interpreters import build_registry

log = logging.getLogger(__name__)


class NaiveStrategy(Strategy):
    name = "naive"

    async def start(self, ctx: RunContext) -> None:
        await super().start(ctx)
        self.client = self.make_client()
        self.registry = build_registry(load_plugins=False)
        self.members = Members(ctx.scenario.resources)
        self.queue: asyncio.Queue[int] = asyncio.Queue()
        self.tasks = [asyncio.create_task(self._worker()) for _ in range(self.variant.workers)]

    async def preload(self, batches: Sequence[Sequence[Report]]) -> None:
        for batch in batches:
            for report in batch:
                self.members.apply(report)

    async def deliver(self, wave: int, batches: Sequence[Sequence[Report]]) -> None:
        for batch in batches:
            for report in batch:
                self.members.apply(report)
                self.queue.put_nowait(report.resource)
            await asyncio.sleep(0)

    async def drain(self) -> None:
        await self.queue.join()

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.client.close()

    async def _worker(self) -> None:
        while True:
            resource = await self.queue.get()
            try:
                await self._write(template_name(resource), resource)
            except (ApiError, OSError, TimeoutError) as exc:
                log.warning("naive: writing %s failed: %s", template_name(resource), exc)
            finally:
                self.queue.task_done()

    async def _write(self, name: str, resource: int) -> None:
        for attempt in range(RETRY_STEPS):
            if attempt:
                await asyncio.sleep(RETRY_DELAY_S)
            try:
                obj = await self.client.get(DEPLOYMENTS, self.ctx.namespace, name)
            except NotFound:
                return
            new = self.registry.aggregate(obj, self.members.items(resource))
            with contextlib.suppress(Conflict):
                await self.client.replace_status(DEPLOYMENTS, new)
                return
