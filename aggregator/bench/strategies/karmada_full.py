"""Karmada's whole status path: the Work status, the ResourceBinding status and its event, then
the template status as ``karmada`` writes it.

- work-status controller: a member report that changed the member's item updates that
  member's Work status (``helper.UpdateStatus``: the cached Work, a deep-equal skip, a PUT of
  ``/status``; a conflict re-reads it live), on the variant's workers;
- binding-status controller: a Work whose status changed enqueues its binding; the reconcile
  aggregates the binding's Works into ``status.aggregatedStatus`` (same skip and write on the
  ResourceBinding), records ``AggregateStatusSucceed`` on the binding after a write, then runs
  ``updateResourceStatus`` on the template (``karmada``'s reconcile) over those Works.

At defaults every request shares one client limit (``--kube-api-qps 40 / --kube-api-burst 60``).
The Work and ResourceBinding objects are created during set-up, one Work per template and member;
the Works' own events (``ReflectStatusSucceed`` and, with a health hook, ``InterpretHealth*``)
are not written, so the counts remain a lower bound.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aggregator.bench import karmada_crds
from aggregator.bench.objects import bounded
from aggregator.bench.scenarios import Obj, Report, template_name
from aggregator.bench.strategies.base import KeyedWorkers, Members, RunContext, bench_client
from aggregator.bench.strategies.karmada import RETRY_STEPS, KarmadaStrategy
from aggregator.kube.client import Conflict
from aggregator.kube.resources import ResourceType

BINDING_SUCCEEDED_MESSAGE = (
    "Update ResourceBinding({namespace}/{name}) with AggregatedStatus successfully."
)


def work_name(resource: int, cluster: int) -> str:
    return f"{template_name(resource)}-member-{cluster + 1}"


class KarmadaFullStrategy(KarmadaStrategy):
    name = "karmada_full"

    async def start(self, ctx: RunContext) -> None:
        await super().start(ctx)
        # set-up objects: created without the variant's client limit, which the run starts with
        async with bench_client(ctx.kubeconfig) as setup:
            self.work_type, self.binding_type = await karmada_crds.install(setup)
            clusters = ctx.scenario.clusters
            self.works: list[Obj] = await bounded(
                range(ctx.scenario.resources * clusters),
                lambda key: setup.create(
                    self.work_type, self._object(self.work_type, work_name(*divmod(key, clusters)))
                ),
            )
            self.bindings: list[Obj] = await bounded(
                range(ctx.scenario.resources),
                lambda r: setup.create(
                    self.binding_type, self._object(self.binding_type, template_name(r))
                ),
            )
        self.clusters = clusters
        self.reported = Members(ctx.scenario.resources)
        self.work_workers = KeyedWorkers(self.variant.workers, "work-status")
        self.work_workers.start(self._sync_work)

    def _object(self, rt: ResourceType, name: str) -> Obj:
        return {
            "apiVersion": rt.api_version,
            "kind": rt.kind,
            "metadata": {"name": name, "namespace": self.ctx.namespace},
            "spec": {},
        }

    async def preload(self, batches: Sequence[Sequence[Report]]) -> None:
        for batch in batches:
            for report in batch:
                self.reported.apply(report)
                self.members.apply(report)

    async def deliver(self, wave: int, batches: Sequence[Sequence[Report]]) -> None:
        for batch in batches:
            for report in batch:
                if self.reported.apply(report):
                    self.work_workers.queue.add(report.resource * self.clusters + report.cluster)
            await asyncio.sleep(0)

    async def drain(self) -> None:
        while True:
            await self.work_workers.drain()
            await super().drain()
            if not len(self.work_workers.queue) and not self.work_workers.queue.in_flight:
                return

    async def stop(self) -> None:
        await self.work_workers.stop()
        async with bench_client(self.ctx.kubeconfig) as setup:
            for rt in (self.work_type, self.binding_type):
                await setup.request(
                    "DELETE", rt.collection_path(self.ctx.namespace), verb="deletecollection"
                )
        await super().stop()

    async def _update_status(
        self, rt: ResourceType, cache: list[Obj], index: int, status: Obj
    ) -> bool:
        """``helper.UpdateStatus`` in ``RetryOnConflict``: whether the status was written."""
        for attempt in range(RETRY_STEPS):
            obj = cache[index]
            if obj.get("status") == status:
                return False
            try:
                cache[index] = await self.client.replace_status(rt, {**obj, "status": status})
                return True
            except Conflict:
                if attempt == RETRY_STEPS - 1:
                    raise
                meta = obj["metadata"]
                cache[index] = await self.client.get(rt, meta["namespace"], meta["name"])
        return False

    async def _sync_work(self, key: int) -> None:
        resource, cluster = divmod(key, self.clusters)
        item = self.reported.latest(resource, cluster)
        status = {
            "manifestStatuses": [
                {
                    "identifier": {
                        "ordinal": 0,
                        "group": "apps",
                        "version": "v1",
                        "kind": "Deployment",
                        "namespace": self.ctx.namespace,
                        "name": template_name(resource),
                    },
                    "status": item.get("status"),
                    "health": item.get("health"),
                }
            ]
        }
        if await self._update_status(self.work_type, self.works, key, status):
            self.members.apply(Report(resource, cluster, self.reported.version(resource, cluster)))
            self.workers.queue.add(resource)

    async def _sync(self, resource: int) -> None:
        items = self.members.items(resource)
        if await self._update_status(
            self.binding_type, self.bindings, resource, {"aggregatedStatus": items}
        ):
            binding = self.bindings[resource]
            message = BINDING_SUCCEEDED_MESSAGE.format(
                namespace=self.ctx.namespace, name=template_name(resource)
            )
            self.events.record(binding, "Normal", "AggregateStatusSucceed", message)
        await super()._sync(resource)
