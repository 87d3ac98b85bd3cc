"""Another controller keeps overwriting a status the service writes: a write war."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS, EVENTS
from aggregator.writewar import WarSettings
from tests.faults.report import FaultRecord
from tests.faults.workload import (
    Fleet,
    counter,
    create_templates,
    labelled_total,
    lost_updates,
    service_for,
    until,
)
from tests.helpers import eventually

RIVAL = "rival-controller"
WARS = WarSettings(overwrites=3, window_s=30.0, backoff_base_s=1.0, backoff_max_s=4.0)
RIVAL_WRITES = 400  # during the war, after it was detected
RIVAL_WRITES_PER_OURS = 20


@dataclass
class Rival:
    """Overwrites one status back to back with its own field manager and a new value each time,
    as a second status controller left enabled would."""

    kube: KubeClient
    namespace: str
    name: str
    writes: int = 0

    async def run(self) -> None:
        while True:
            ready = self.writes % 500
            status = {"replicas": 5000, "readyReplicas": ready, "availableReplicas": ready}
            await self.kube.patch(
                DEPLOYMENTS,
                self.namespace,
                self.name,
                {"status": status},
                subresource="status",
                params={"fieldManager": RIVAL},
            )
            self.writes += 1


@contextlib.asynccontextmanager
async def running(rival: Rival) -> AsyncIterator[None]:
    task = asyncio.create_task(rival.run(), name="rival")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_write_war_backs_off_names_the_other_writer_and_converges_after(
    apiserver: LocalAPIServer, kube: KubeClient, namespace: str, fault: FaultRecord
) -> None:
    """While the other writer runs, the service's writes of the object stay far fewer than the
    other writer's (each hold doubles); a Warning Event names the other field manager; a report
    that arrives during the war is written once the other writer stops."""
    fault.name = "another controller keeps overwriting the status (write war)"
    name = "contested"
    await create_templates(kube, namespace, [name])
    fleet = Fleet(namespace, [name])
    rival = Rival(kube, namespace, name)
    async with service_for(apiserver.kubeconfig, min_write_interval_s=0.05, write_wars=WARS) as (
        svc,
        stub,
    ):
        metrics = svc.service.metrics

        def our_writes() -> float:
            return labelled_total(metrics.writes)  # every attempt, 409s included

        await fleet.round(stub, 1)
        await fault.converge(lambda: lost_updates(kube, namespace, {name: fleet.expected(name)}))

        async with running(rival):
            await until(lambda: counter(metrics.write_wars) == 1)
            ours_before, rival_before = our_writes(), rival.writes

            async def war_event() -> list[dict[str, Any]]:
                events = (await kube.list(EVENTS, namespace))["items"]
                return [
                    e
                    for e in events
                    if e["reason"] == "StatusWriteWar" and e["involvedObject"]["name"] == name
                ]

            events = await eventually(war_event)
            assert events[0]["type"] == "Warning"
            assert RIVAL in events[0]["message"], events[0]["message"]
            assert counter(metrics.write_war_objects) == 1

            async def held() -> bool:
                reply = await stub.GetAggregate(
                    pb.GetAggregateRequest(
                        resource=pb.ResourceRef(
                            api_version="apps/v1", kind="Deployment", namespace=namespace, name=name
                        )
                    )
                )
                return reply.last_write.outcome == "held" and RIVAL in reply.last_write.message

            await eventually(held)
            await fleet.round(stub, 2)  # reports go on during the war
            await until(lambda: rival.writes >= rival_before + RIVAL_WRITES, within=120)
            ours_during, rival_during = our_writes() - ours_before, rival.writes - rival_before
        fault.injected = rival.writes

        # once the other writer stops, the held write goes through: nothing is lost
        expected = {name: fleet.expected(name)}
        await fault.converge(lambda: lost_updates(kube, namespace, expected))
        fault.figures.update(
            {
                "other writer's writes": rival.writes,
                "its writes during the war": rival_during,
                "statusagg writes during the war": int(ours_during),
                "wars": int(counter(metrics.write_wars)),
                "warning events": len(await war_event()),
            }
        )
    assert ours_during * RIVAL_WRITES_PER_OURS <= rival_during, (ours_during, rival_during)
    assert counter(metrics.write_wars) == 1
