"""Faults: whatever fails, every template ends with the status its members last reported."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer, free_port, sample_deployment
from aggregator.kube import KubeClient, load_cluster_access
from aggregator.kube.resources import DEPLOYMENTS, NAMESPACES
from aggregator.serve import ServeOptions, running
from aggregator.service import ServiceSettings
from tests.faults.report import FaultRecord
from tests.helpers import eventually

CLUSTERS = ("a", "b", "c")
RESOURCES = 30


class Fleet:
    """Simulated agents that remember what they last reported (the offline truth)."""

    def __init__(self) -> None:
        self.sequence = 0
        self.ready: dict[tuple[str, str], int] = {}

    def items(self, cluster: str, names: list[str], ready: int) -> list[pb.MemberStatus]:
        self.sequence += 1
        out = []
        for name in names:
            self.ready[(cluster, name)] = ready
            status = {
                "replicas": 3,
                "updatedReplicas": 3,
                "readyReplicas": ready,
                "availableReplicas": ready,
            }
            out.append(
                pb.MemberStatus(
                    cluster=cluster,
                    resource=pb.ResourceRef(
                        api_version="apps/v1", kind="Deployment", namespace="faults", name=name
                    ),
                    status_json=json.dumps(status).encode(),
                    applied=True,
                    generation=1,
                    observed_generation=1,
                    template_generation=1,
                    sequence=self.sequence,
                )
            )
        return out

    def expected(self, name: str) -> int:
        return sum(v for (_, n), v in self.ready.items() if n == name)

    async def sync_all(self, stub: pb_grpc.StatusAggregatorStub, names: list[str]) -> None:
        for cluster in CLUSTERS:
            self.sequence += 1
            items = [
                pb.MemberStatus(
                    cluster=cluster,
                    resource=pb.ResourceRef(
                        api_version="apps/v1", kind="Deployment", namespace="faults", name=name
                    ),
                    status_json=json.dumps(
                        {
                            "replicas": 3,
                            "updatedReplicas": 3,
                            "readyReplicas": self.ready[(cluster, name)],
                            "availableReplicas": self.ready[(cluster, name)],
                        }
                    ).encode(),
                    applied=True,
                    generation=1,
                    observed_generation=1,
                    template_generation=1,
                    sequence=self.sequence,
                )
                for name in names
            ]
            await stub.Sync(pb.SyncRequest(cluster=cluster, items=items))


async def lost_updates(kube: KubeClient, fleet: Fleet, names: list[str]) -> list[str]:
    listing = await kube.list(DEPLOYMENTS, "faults")
    ready = {
        i["metadata"]["name"]: i.get("status", {}).get("readyReplicas", 0) for i in listing["items"]
    }
    return [n for n in names if ready.get(n) != fleet.expected(n)]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[tuple[LocalAPIServer, KubeClient]]:
    server = LocalAPIServer(tmp_path / "apiserver")
    server.start()
    try:
        async with KubeClient(load_cluster_access(server.kubeconfig), qps=0) as kube:
            await kube.create(NAMESPACES, {"metadata": {"name": "faults"}})
            for i in range(RESOURCES):
                await kube.create(DEPLOYMENTS, sample_deployment(f"app-{i:02d}", "faults", 9))
            yield server, kube
    finally:
        server.cleanup()


async def test_api_server_killed_mid_burst_loses_nothing(
    cluster: tuple[LocalAPIServer, KubeClient], fault: FaultRecord
) -> None:
    fault.name = "API server SIGKILLed mid-burst, restarted"
    server, kube = cluster
    names = [f"app-{i:02d}" for i in range(RESOURCES)]
    fleet = Fleet()
    options = ServeOptions(
        kubeconfig=server.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        settings=ServiceSettings(workers=4, min_write_interval_s=0.2, max_backoff_s=2.0),
    )
    async with running(options) as svc, grpc.aio.insecure_channel(svc.address) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        for cluster_name in CLUSTERS:
            await stub.Report(pb.ReportRequest(items=fleet.items(cluster_name, names, 1)))
        server.kill()  # SIGKILL mid-burst: writes in flight fail, watches break
        fault.injected += 1
        for ready in (2, 3):
            for cluster_name in CLUSTERS:
                await stub.Report(pb.ReportRequest(items=fleet.items(cluster_name, names, ready)))
        await asyncio.sleep(1.0)  # stay down for a while: reports keep flowing
        await stub.Report(pb.ReportRequest(items=fleet.items("a", names[:10], 0)))
        server.start()

        await fault.converge(lambda: lost_updates(kube, fleet, names), within=60)
        retries = svc.service.metrics.retries._value.get()
        fault.figures["requeues"] = int(retries)
        assert retries > 0, "the outage was noticed"
    assert await lost_updates(kube, fleet, names) == []


async def test_service_killed_and_restarted_converges_after_resync(
    cluster: tuple[LocalAPIServer, KubeClient],
    tmp_path: Path,
    fault: FaultRecord,
) -> None:
    fault.name = "service SIGKILLed and restarted, agents resync"
    server, kube = cluster
    names = [f"app-{i:02d}" for i in range(RESOURCES)]
    fleet = Fleet()
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "aggregator.cli",
        "serve",
        "--insecure",
        "--kubeconfig",
        str(server.kubeconfig),
        "--listen",
        f"127.0.0.1:{port}",
        "--metrics-listen",
        "127.0.0.1:0",
        "--plugins",
        "false",
        "--min-write-interval",
        "0.2",
    ]

    def start() -> subprocess.Popen[bytes]:
        log = open(tmp_path / "serve.log", "ab")  # noqa: SIM115 (closed with the process)
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    process = start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.StatusAggregatorStub(channel)

            async def epoch() -> str:
                try:
                    reply = await stub.Report(pb.ReportRequest(), timeout=2)
                except grpc.aio.AioRpcError:
                    return ""
                return str(reply.epoch)

            first = await eventually(epoch)
            for cluster_name in CLUSTERS:
                await stub.Report(pb.ReportRequest(items=fleet.items(cluster_name, names, 1)))
            process.send_signal(signal.SIGKILL)
            process.wait()
            fault.injected += 1
            # members change while the service is down; their reports are lost with it
            for cluster_name in CLUSTERS:
                fleet.items(cluster_name, names, 2)
            process = start()
            second = await eventually(epoch)
            assert second != first, "a restarted service has a new epoch"
            await fleet.sync_all(stub, names)  # what agents do on a new epoch
            await fault.converge(lambda: lost_updates(kube, fleet, names), within=60)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
