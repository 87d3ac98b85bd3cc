"""A runaway Lua customization inside a running service: it is stopped at its deadline, the
health checks and other members' calls keep answering at once, and other resources are written."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from pathlib import Path

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer, sample_deployment
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.serve import ServeOptions, running
from aggregator.service import ServiceSettings
from interpreters import LuaSettings
from tests.faults.report import FaultRecord
from tests.helpers import eventually

CUSTOMIZATION = """
apiVersion: config.karmada.io/v1alpha1
kind: ResourceInterpreterCustomization
metadata: {name: hostile-deployment}
spec:
  target: {apiVersion: apps/v1, kind: Deployment}
  customizations:
    statusAggregation:
      luaScript: |
        function AggregateStatus(desiredObj, statusItems)
          if desiredObj.metadata.name == "runaway" then
            xpcall(function() while true do end end, function(e) while true do end end)
          end
          local ready = 0
          for i = 1, #(statusItems or {}) do
            ready = ready + (statusItems[i].status.readyReplicas or 0)
          end
          desiredObj.status = {readyReplicas = ready, replicas = ready}
          return desiredObj
        end
"""
HEALTHY = [f"healthy-{i:02d}" for i in range(10)]
RESPONSIVE_S = 0.1


def item(namespace: str, cluster: str, name: str, ready: int, sequence: int) -> pb.MemberStatus:
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace=namespace, name=name
        ),
        status_json=json.dumps({"readyReplicas": ready}).encode(),
        applied=True,
        sequence=sequence,
    )


async def test_runaway_script_never_stalls_the_service(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
    fault: FaultRecord,
) -> None:
    fault.name = "Lua AggregateStatus loops in its xpcall message handler"
    ric = tmp_path / "hostile.yaml"
    ric.write_text(CUSTOMIZATION)
    for name in ["runaway", *HEALTHY]:
        await kube.create(DEPLOYMENTS, sample_deployment(name, namespace))
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        customizations=[ric],
        load_plugins=False,
        lua=LuaSettings(timeout_s=0.5, workers=2),
        settings=ServiceSettings(workers=4, min_write_interval_s=0.05),
    )
    latencies: list[float] = []
    async with (
        running(options) as svc,
        grpc.aio.insecure_channel(svc.address) as channel,
        aiohttp.ClientSession() as http,
    ):
        stub = pb_grpc.StatusAggregatorStub(channel)
        health = health_pb2_grpc.HealthStub(channel)
        kills = svc.service.metrics.lua_worker_kills

        async def probe() -> None:
            while True:
                started = time.monotonic()
                reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
                async with http.get(f"http://{svc.metrics_address}/healthz") as answer:
                    assert answer.status == 200
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.01)

        probing = asyncio.create_task(probe())
        for round_ in (1, 2):
            before = kills._value.get()
            # a new status each round, so the runaway template is aggregated again
            runaway_item = item(namespace, "m1", "runaway", round_, round_)
            await stub.Report(pb.ReportRequest(items=[runaway_item]))
            fault.injected += 1
            started = time.monotonic()
            reply = await stub.Report(
                pb.ReportRequest(
                    items=[item(namespace, "m2", name, round_, round_) for name in HEALTHY]
                )
            )
            latencies.append(time.monotonic() - started)
            assert all(r.outcome == pb.ItemResult.OUTCOME_ACCEPTED for r in reply.results)

            async def runaway_killed(before: float = before) -> bool:
                return bool(kills._value.get() > before)

            await eventually(runaway_killed, within=30)

            async def healthy_lost(ready: int = round_) -> list[str]:
                listing = await kube.list(DEPLOYMENTS, namespace)
                written = {
                    obj["metadata"]["name"]: obj.get("status", {}).get("readyReplicas")
                    for obj in listing["items"]
                }
                return [name for name in HEALTHY if written.get(name) != ready]

            await fault.converge(healthy_lost, within=30)
        probing.cancel()
        runaway = await stub.GetAggregate(
            pb.GetAggregateRequest(
                resource=pb.ResourceRef(
                    api_version="apps/v1", kind="Deployment", namespace=namespace, name="runaway"
                )
            )
        )
    assert probing.done()
    assert runaway.last_write.outcome == "failed"
    assert "time limit of 0.5s" in runaway.last_write.message
    assert len(latencies) > 20
    fault.figures["probes"] = len(latencies)
    fault.figures["probe p50 ms"] = round(statistics.median(latencies) * 1000, 1)
    fault.figures["probe max ms"] = round(max(latencies) * 1000, 1)
    assert max(latencies) < RESPONSIVE_S, f"slowest health/Report answer {max(latencies):.3f}s"
