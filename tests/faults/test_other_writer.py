"""Another writer bumps the templates (labels) and overwrites their status while reports flow."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from tests.faults.conftest import Scale
from tests.faults.report import FaultRecord
from tests.faults.workload import (
    Fleet,
    counter,
    create_templates,
    labelled_total,
    lost_updates,
    member_status,
    service_for,
    until,
)

WRITE_ATTEMPTS = 5


@dataclass
class Rival:
    """Writes the templates without preconditions, as a careless controller would."""

    kube: KubeClient
    namespace: str
    bumps: int = 0
    overwrites: int = 0

    @property
    def writes(self) -> int:
        return self.bumps + self.overwrites

    async def bump(self, name: str) -> None:
        labels = {"rival": str(self.writes)}
        await self.kube.patch(DEPLOYMENTS, self.namespace, name, {"metadata": {"labels": labels}})
        self.bumps += 1

    async def overwrite(self, name: str) -> None:
        status = {"status": member_status(999)}
        await self.kube.patch(DEPLOYMENTS, self.namespace, name, status, subresource="status")
        self.overwrites += 1


@contextlib.asynccontextmanager
async def rival_running(
    rival: Rival, names: list[str], *, overwrite_every: int, limit: int | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Write ``names`` round robin, back to back, until ``limit`` writes or the block ends."""

    async def run() -> None:
        count = 0
        while limit is None or count < limit:
            name = names[count % len(names)]
            if overwrite_every and count % overwrite_every == overwrite_every - 1:
                await rival.overwrite(name)
            else:
                await rival.bump(name)
            count += 1

    task = asyncio.create_task(run(), name="rival")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_other_writer_bumps_and_overwrites(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    scale: Scale,
    fault: FaultRecord,
) -> None:
    """First the rival bumps labels and overwrites statuses while reports flow; then it keeps
    bumping a few hot templates and the service must converge while it does. Every 409 the
    service meets is caused by a rival write, so 409s never outnumber them."""
    fault.name = "another writer bumps labels and overwrites the status"
    names = [f"app-{i:03d}" for i in range(scale.resources)]
    await create_templates(kube, namespace, names)
    fleet = Fleet(namespace, names)
    rival = Rival(kube, namespace)
    async with service_for(
        apiserver.kubeconfig, min_write_interval_s=0.05, write_attempts=WRITE_ATTEMPTS
    ) as (svc, stub):
        metrics = svc.service.metrics

        def writes() -> float:
            return counter(metrics.writes, mode="update", result="ok")

        async with rival_running(rival, names, overwrite_every=3, limit=scale.bumps) as task:
            for ready in range(1, scale.rounds + 1):
                before = writes()
                await fleet.round(stub, ready)
                await until(lambda b=before: writes() > b)
            await task
        fault.injected += rival.writes
        expected = {n: fleet.expected(n) for n in names}
        await fault.converge(lambda: lost_updates(kube, namespace, expected))

        hot = names[: max(1, len(names) // 10)]
        bumps_before = rival.bumps
        async with rival_running(rival, hot, overwrite_every=0):
            for ready in range(scale.rounds + 1, scale.rounds + 5):
                await fleet.round(stub, ready)
                truth = {n: fleet.expected(n) for n in names}
                await fault.converge(lambda t=truth: lost_updates(kube, namespace, t))
            await until(lambda: rival.bumps > bumps_before)  # it really was still bumping
        fault.injected += rival.bumps - bumps_before

        conflicts = counter(metrics.conflicts)
        requeues = counter(metrics.retries)
        fault.figures.update(
            {
                "label bumps": rival.bumps,
                "status overwrites": rival.overwrites,
                "status writes": int(writes()),
                "409s": int(conflicts),
                "requeues after 409s": int(requeues),
                "write errors": int(labelled_total(metrics.api_requests, code="error")),
            }
        )
    assert rival.overwrites > 0
    # no self-inflicted 409s: each one was caused by a distinct rival write
    assert conflicts <= rival.writes, (conflicts, rival.writes)
    # a key goes back to the queue only after all its attempts met 409s
    assert requeues * WRITE_ATTEMPTS <= conflicts, (requeues, conflicts)
