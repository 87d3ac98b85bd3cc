"""A running service with a little of every kind of traffic, scraped over HTTP."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer, sample_deployment
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from tests.helpers import eventually


def scrape(address: str) -> str:
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=10) as response:
        return str(response.read().decode())


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def item(cluster: str, namespace: str, name: str, status: bytes, **fields: str) -> pb.MemberStatus:
    resource = {"api_version": "apps/v1", "kind": "Deployment", "namespace": namespace}
    resource.update(name=name, **fields)
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(**resource),
        status_json=status,
        applied=True,
        health=pb.HEALTH_HEALTHY,
        generation=1,
        observed_generation=1,
        template_generation=1,
        sequence=1,
    )


async def serve_with_traffic(
    apiserver: LocalAPIServer, kube: KubeClient, namespace: str
) -> AsyncIterator[tuple[RunningService, str]]:
    """Serve; write one status, reject items of several reasons, fail a call; then scrape."""
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        qps=0,
        load_plugins=False,
        settings=ServiceSettings(workers=2, coalesce_delay_s=0.01, min_write_interval_s=0.1),
    )
    async with running(options) as svc, grpc.aio.insecure_channel(svc.address) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        await kube.create(DEPLOYMENTS, sample_deployment("web", namespace))
        ready = json.dumps({"replicas": 1, "readyReplicas": 1}).encode()
        await stub.Report(
            pb.ReportRequest(
                items=[
                    item("member-a", namespace, "web", ready),
                    item("member-b", namespace, "web", ready),
                    item("member-a", namespace, "bad", b"[1]"),  # invalid_status
                    item("member-a", namespace, "bad", ready, kind="Widget"),  # unsupported_kind
                    item("member-a", namespace, "Bad_Name", ready),  # invalid_name
                ]
            )
        )
        with_duplicate = [item("member-c", namespace, "web", ready)] * 2
        await stub.Sync(pb.SyncRequest(cluster="member-c", items=with_duplicate))
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.Sync(pb.SyncRequest())
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT

        async def written() -> bool:
            live = await kube.get(DEPLOYMENTS, namespace, "web")
            return bool(live.get("status", {}).get("readyReplicas") == 3)

        await eventually(written)
        yield svc, await asyncio.to_thread(scrape, svc.metrics_address)
