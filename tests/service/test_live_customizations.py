"""ResourceInterpreterCustomization objects applied to the control plane take effect without a
restart: a new kind becomes reportable, a changed script re-aggregates, a broken version keeps
the last good one with a Warning Event, a deleted one stops serving its kind."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.customizations import LOAD_FAILED
from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from aggregator.kube.client import NotFound
from aggregator.kube.crds import RIC_CRD, install_crd
from aggregator.kube.resources import EVENTS
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from tests.helpers import eventually

GROUP = "live.statusagg.test"


def widget_crd(kind: str, plural: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "plural": plural, "singular": plural[:-1]},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


def ric(name: str, kind: str, script: str, field: str = "statusAggregation") -> dict[str, Any]:
    return {
        "apiVersion": "config.karmada.io/v1alpha1",
        "kind": "ResourceInterpreterCustomization",
        "metadata": {"name": name},
        "spec": {
            "target": {"apiVersion": f"{GROUP}/v1", "kind": kind},
            "customizations": {field: {"luaScript": script}},
        },
    }


def summing(field: str) -> str:
    return f"""
function AggregateStatus(desiredObj, statusItems)
  local total = 0
  for i = 1, #(statusItems or {{}}) do
    total = total + (statusItems[i].status.ready or 0)
  end
  desiredObj.status = {{{field} = total}}
  return desiredObj
end
"""


@pytest.fixture
async def live_service(
    apiserver: LocalAPIServer, kube: KubeClient
) -> AsyncIterator[RunningService]:
    await install_crd(kube, RIC_CRD)
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        settings=ServiceSettings(workers=2, min_write_interval_s=0.05),
    )
    async with running(options) as svc:
        yield svc


async def test_applied_customizations_are_live(
    kube: KubeClient, namespace: str, live_service: RunningService
) -> None:
    suffix = uuid.uuid4().hex[:6]
    kind, plural = f"Widget{suffix}", f"widgets{suffix}"
    widgets = await install_crd(kube, widget_crd(kind, plural))
    rics = await install_crd(kube, RIC_CRD)
    name = f"widgets-{suffix}"
    await kube.create(
        widgets,
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": kind,
            "metadata": {"name": "w", "namespace": namespace},
        },
    )
    metrics = live_service.service.metrics
    sequence = 0

    async with grpc.aio.insecure_channel(live_service.address) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)

        async def report(ready: int) -> pb.ItemResult:
            nonlocal sequence
            sequence += 1
            item = pb.MemberStatus(
                cluster="m1",
                resource=pb.ResourceRef(
                    api_version=f"{GROUP}/v1", kind=kind, namespace=namespace, name="w"
                ),
                status_json=json.dumps({"ready": ready}).encode(),
                applied=True,
                sequence=sequence,
            )
            reply = await stub.Report(pb.ReportRequest(items=[item]))
            result: pb.ItemResult = reply.results[0]
            return result

        async def status_is(expected: dict[str, Any]) -> bool:
            obj = await kube.get(widgets, namespace, "w")
            return bool(obj.get("status") == expected)

        refused = await report(1)
        assert refused.outcome == pb.ItemResult.OUTCOME_REJECTED
        assert "no status aggregation interpreter" in refused.reason

        try:
            # a new kind: one apply, no restart
            await kube.create(rics, ric(name, kind, summing("total")))

            async def accepted() -> bool:
                return (await report(2)).outcome == pb.ItemResult.OUTCOME_ACCEPTED

            await eventually(accepted)
            await eventually(lambda: status_is({"total": 2}))

            # a changed script re-aggregates what is stored, with no new report
            current = await kube.get(rics, None, name)
            changed = ric(name, kind, summing("sum")) | {"metadata": current["metadata"]}
            await kube.replace(rics, changed)
            await eventually(lambda: status_is({"sum": 2}))

            # a broken version: Warning Event on the object, metric, the last good one stays
            errors_before = metrics.customization_load_errors._value.get()
            current = await kube.get(rics, None, name)
            broken = ric(name, kind, "function AggregateStatus(desiredObj, statusItems")
            await kube.replace(rics, broken | {"metadata": current["metadata"]})

            async def warned() -> list[dict[str, Any]]:
                events = (await kube.list(EVENTS, "default"))["items"]
                return [
                    e
                    for e in events
                    if e["involvedObject"].get("name") == name and e["reason"] == LOAD_FAILED
                ]

            [event] = await eventually(warned)
            assert event["type"] == "Warning"
            assert event["involvedObject"]["kind"] == "ResourceInterpreterCustomization"
            assert "does not compile" in event["message"]
            assert "keeps its last good version" in event["message"]
            assert metrics.customization_load_errors._value.get() == errors_before + 1
            assert (await report(5)).outcome == pb.ItemResult.OUTCOME_ACCEPTED
            await eventually(lambda: status_is({"sum": 5}))

            # deleted: the kind is no longer served
            await kube.delete(rics, None, name)

            async def refused_again() -> bool:
                return (await report(6)).outcome == pb.ItemResult.OUTCOME_REJECTED

            await eventually(refused_again)
        finally:
            with contextlib.suppress(NotFound):
                await kube.delete(rics, None, name)
