"""Interpreter webhooks against a real HTTPS server and the real API server: a webhook
aggregates a custom kind, a customization takes precedence, a deleted configuration stops
serving; a wrong CA, a hanging webhook, a timeout and bad answers fail clearly, keep the last
good status and never hold other kinds."""

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
from aggregator.devcluster import LocalAPIServer
from aggregator.events import EventSettings
from aggregator.kube import KubeClient
from aggregator.kube.client import NotFound
from aggregator.kube.crds import RIC_CRD, RIWC_CRD, install_crd
from aggregator.kube.resources import EVENTS, ResourceType
from aggregator.reconcile import FAILED
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from aggregator.webhooks.live import CALL_FAILED, LOAD_FAILED
from tests.helpers import eventually
from tests.service.test_live_customizations import GROUP, ric, summing, widget_crd
from tests.webhook_server import Authority, WebhookServer, make_authority, webhook_server

pytestmark = pytest.mark.apiserver

CONFIG_KIND = "ResourceInterpreterWebhookConfiguration"


@pytest.fixture(scope="module")
def authority() -> Authority:
    return make_authority()


@pytest.fixture
async def server(authority: Authority) -> AsyncIterator[WebhookServer]:
    async with webhook_server(authority) as running_server:
        yield running_server


@pytest.fixture
async def service(apiserver: LocalAPIServer, kube: KubeClient) -> AsyncIterator[RunningService]:
    await install_crd(kube, RIC_CRD)
    await install_crd(kube, RIWC_CRD)
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        settings=ServiceSettings(
            workers=6,
            min_write_interval_s=0.05,
            events=EventSettings(per_object_qps=100.0, per_object_burst=100),
        ),
    )
    async with running(options) as svc:
        yield svc


class Fleet:
    """Custom kinds, their templates, webhook configurations and reports, cleaned up after."""

    def __init__(self, kube: KubeClient, namespace: str, stub: pb_grpc.StatusAggregatorStub):
        self.kube = kube
        self.namespace = namespace
        self.stub = stub
        self.sequence = 0
        self.types: dict[str, ResourceType] = {}
        self.configs: list[str] = []
        self.configurations: ResourceType | None = None

    async def kind(self, prefix: str, *names: str) -> str:
        suffix = uuid.uuid4().hex[:6]
        kind = f"{prefix}{suffix}"
        rt = await install_crd(self.kube, widget_crd(kind, f"{kind.lower()}s"))
        self.types[kind] = rt
        for name in names:
            obj = {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": name}}
            obj["metadata"]["namespace"] = self.namespace
            await self.kube.create(rt, obj)
        return kind

    async def configure(
        self, name: str, kind: str, url: str, ca_bundle: str, *, timeout_s: int = 5
    ) -> None:
        """Create or replace a configuration with one webhook ``hook`` for ``kind``."""
        self.configurations = self.configurations or await install_crd(self.kube, RIWC_CRD)
        body: dict[str, Any] = {
            "apiVersion": "config.karmada.io/v1alpha1",
            "kind": CONFIG_KIND,
            "metadata": {"name": name},
            "webhooks": [
                {
                    "name": "hook",
                    "clientConfig": {"url": url, "caBundle": ca_bundle},
                    "rules": [
                        {
                            "operations": ["AggregateStatus"],
                            "apiGroups": [GROUP],
                            "apiVersions": ["v1"],
                            "kinds": [kind],
                        }
                    ],
                    "timeoutSeconds": timeout_s,
                    "interpreterContextVersions": ["v1alpha1"],
                }
            ],
        }
        if name in self.configs:
            current = await self.kube.get(self.configurations, None, name)
            await self.kube.replace(self.configurations, body | {"metadata": current["metadata"]})
        else:
            self.configs.append(name)
            await self.kube.create(self.configurations, body)

    async def unconfigure(self, name: str) -> None:
        assert self.configurations is not None
        await self.kube.delete(self.configurations, None, name)
        self.configs.remove(name)

    async def report(self, kind: str, name: str, cluster: str, ready: int) -> pb.ItemResult:
        self.sequence += 1
        item = pb.MemberStatus(
            cluster=cluster,
            resource=pb.ResourceRef(
                api_version=f"{GROUP}/v1", kind=kind, namespace=self.namespace, name=name
            ),
            status_json=json.dumps({"ready": ready}).encode(),
            applied=True,
            sequence=self.sequence,
        )
        reply = await self.stub.Report(pb.ReportRequest(items=[item]))
        result: pb.ItemResult = reply.results[0]
        return result

    async def reported(self, kind: str, name: str, cluster: str, ready: int) -> None:
        """Report once the kind is served (a configuration takes effect asynchronously)."""

        async def accepted() -> bool:
            result = await self.report(kind, name, cluster, ready)
            return result.outcome == pb.ItemResult.OUTCOME_ACCEPTED

        await eventually(accepted)

    async def status(self, kind: str, name: str) -> Any:
        return (await self.kube.get(self.types[kind], self.namespace, name)).get("status")

    async def warnings(self, name: str, reason: str, namespace: str) -> list[str]:
        events = (await self.kube.list(EVENTS, namespace))["items"]
        return [
            e["message"]
            for e in events
            if e["involvedObject"].get("name") == name
            and e["reason"] == reason
            and e["type"] == "Warning"
        ]

    async def close(self) -> None:
        for name in list(self.configs):
            with contextlib.suppress(NotFound):
                await self.unconfigure(name)


@pytest.fixture
async def fleet(kube: KubeClient, namespace: str, service: RunningService) -> AsyncIterator[Fleet]:
    async with grpc.aio.insecure_channel(service.address) as channel:
        fleet = Fleet(kube, namespace, pb_grpc.StatusAggregatorStub(channel))
        try:
            yield fleet
        finally:
            await fleet.close()


def calls(service: RunningService, configuration: str, result: str) -> float:
    value = service.service.metrics.registry.get_sample_value(
        "statusagg_webhook_calls_total",
        {"configuration": configuration, "operation": "AggregateStatus", "result": result},
    )
    return value or 0.0


def layer_of(service: RunningService, kind: str) -> str | None:
    service.service.refresh_gauges()
    for layer in ("customization", "webhook", "plugin", "native"):
        labels = {"api_version": f"{GROUP}/v1", "kind": kind, "operation": "aggregate"}
        value = service.service.metrics.registry.get_sample_value(
            "statusagg_interpreter_layer", labels | {"layer": layer}
        )
        if value == 1:
            return layer
    return None


async def test_webhook_aggregates_and_yields_to_customizations(
    kube: KubeClient,
    fleet: Fleet,
    server: WebhookServer,
    authority: Authority,
    service: RunningService,
) -> None:
    kind = await fleet.kind("Hooked", "w")
    config = f"sum-{kind.lower()}"
    assert (await fleet.report(kind, "w", "m2", 3)).outcome == pb.ItemResult.OUTCOME_REJECTED

    await fleet.configure(config, kind, f"{server.url}/sum", authority.ca_bundle)
    await fleet.reported(kind, "w", "m2", 3)
    await fleet.reported(kind, "w", "m1", 2)
    expected = {"ready": 5, "clusters": ["m1", "m2"]}
    await eventually(lambda: _equals(fleet.status(kind, "w"), expected))
    request = server.requests[-1]
    assert request["operation"] == "AggregateStatus"
    assert request["kind"] == {"group": GROUP, "version": "v1", "kind": kind}
    assert (request["namespace"], request["name"]) == (fleet.namespace, "w")
    assert request["object"]["metadata"]["name"] == "w"
    assert request["replicas"] == 0
    assert calls(service, config, "ok") >= 1
    assert layer_of(service, kind) == "webhook"

    # a customization for the kind comes first; deleting it hands the kind back
    rics = await install_crd(kube, RIC_CRD)
    ric_name = f"ric-{kind.lower()}"
    await kube.create(rics, ric(ric_name, kind, summing("total")))
    try:
        await eventually(lambda: _equals(fleet.status(kind, "w"), {"total": 5}))
        assert layer_of(service, kind) == "customization"
    finally:
        await kube.delete(rics, None, ric_name)
    await eventually(lambda: _equals(fleet.status(kind, "w"), expected))
    assert layer_of(service, kind) == "webhook"

    # the configuration deleted live: the kind is no longer served, its status stays
    await fleet.unconfigure(config)

    async def refused() -> bool:
        result = await fleet.report(kind, "w", "m1", 9)
        return result.outcome == pb.ItemResult.OUTCOME_REJECTED

    await eventually(refused)
    assert layer_of(service, kind) is None
    assert await fleet.status(kind, "w") == expected


async def test_wrong_ca_fails_clearly_and_other_kinds_proceed(
    fleet: Fleet, server: WebhookServer, authority: Authority, service: RunningService
) -> None:
    other_ca = make_authority("another-ca")
    distrusted, trusted = await fleet.kind("Distrusted", "w"), await fleet.kind("Trusted", "w")
    bad_config, good_config = f"ca-{distrusted.lower()}", f"ok-{trusted.lower()}"
    await fleet.configure(bad_config, distrusted, f"{server.url}/sum", other_ca.ca_bundle)
    await fleet.configure(good_config, trusted, f"{server.url}/sum", authority.ca_bundle)
    await fleet.reported(distrusted, "w", "m1", 1)
    await fleet.reported(trusted, "w", "m1", 4)

    await eventually(lambda: _equals(fleet.status(trusted, "w"), {"ready": 4, "clusters": ["m1"]}))
    [message, *_] = await eventually(lambda: fleet.warnings("w", FAILED, fleet.namespace))
    assert f"{CONFIG_KIND} {bad_config} webhook hook: AggregateStatus" in message
    assert "TLS failed" in message
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert await eventually(lambda: fleet.warnings(bad_config, CALL_FAILED, "default"))
    assert calls(service, bad_config, "tls") >= 1
    assert not [r for r in server.requests if r["kind"]["kind"] == distrusted]
    assert await fleet.status(distrusted, "w") is None


async def test_hanging_webhooks_hold_no_worker_of_other_kinds(
    fleet: Fleet, server: WebhookServer, authority: Authority, service: RunningService
) -> None:
    names = ("a", "b", "c", "d")
    slow = [await fleet.kind("Slow", *names), await fleet.kind("Stuck", *names)]
    fast = await fleet.kind("Fast", "w")
    for kind in slow:
        url = f"{server.url}/hang"
        await fleet.configure(f"slow-{kind.lower()}", kind, url, authority.ca_bundle, timeout_s=30)
    await fleet.configure(f"fast-{fast.lower()}", fast, f"{server.url}/sum", authority.ca_bundle)
    for kind in slow:
        for name in names:
            await fleet.reported(kind, name, "m1", 1)

    async def four_waiting() -> bool:
        return server.waiting == 4

    await eventually(four_waiting)
    # six workers, eight slow resources: without the bound of 2 calls per webhook every worker
    # would wait 30s and the other kind would wait with them
    await fleet.reported(fast, "w", "m1", 6)
    await eventually(lambda: _equals(fleet.status(fast, "w"), {"ready": 6, "clusters": ["m1"]}))
    assert server.waiting == 4
    assert server.most_waiting == 4
    assert server.most_waiting_per_kind == dict.fromkeys(slow, 2)
    assert sum(calls(service, f"slow-{kind.lower()}", "busy") for kind in slow) >= 1
    for kind in slow:
        for name in names:
            assert await fleet.status(kind, name) is None


async def test_timeout_names_the_webhook_and_writes_nothing(
    fleet: Fleet, server: WebhookServer, authority: Authority, service: RunningService
) -> None:
    kind = await fleet.kind("Late", "w")
    config = f"late-{kind.lower()}"
    await fleet.configure(config, kind, f"{server.url}/hang", authority.ca_bundle, timeout_s=1)
    await fleet.reported(kind, "w", "m1", 1)
    [message, *_] = await eventually(lambda: fleet.warnings("w", FAILED, fleet.namespace))
    assert f"{CONFIG_KIND} {config} webhook hook: AggregateStatus" in message
    assert "no answer within 1s" in message
    assert calls(service, config, "timeout") >= 1
    assert await fleet.status(kind, "w") is None


async def test_bad_answers_keep_the_last_good_status(
    fleet: Fleet, server: WebhookServer, authority: Authority, service: RunningService
) -> None:
    kind = await fleet.kind("Flaky", "w")
    config = f"flaky-{kind.lower()}"
    good = {"ready": 1, "clusters": ["m1"]}
    await fleet.configure(config, kind, f"{server.url}/sum", authority.ca_bundle)
    await fleet.reported(kind, "w", "m1", 1)
    await eventually(lambda: _equals(fleet.status(kind, "w"), good))

    cases = [
        ("/garbage", "the answer is not JSON", "bad-answer"),
        ("/huge", f"the answer is larger than {4 * 1024 * 1024} bytes", "too-large"),
        ("/refuse", "webhook call failed, get status code: 400, msg: refused on purpose", None),
    ]
    for ready, (path, expected, result) in enumerate(cases, start=2):
        await fleet.configure(config, kind, f"{server.url}{path}", authority.ca_bundle)

        async def called(path: str = path) -> bool:
            return server.calls[path] > 0

        # the changed configuration re-aggregates what is stored; a new report follows
        await eventually(called)
        assert (await fleet.report(kind, "w", "m1", ready)).outcome == (
            pb.ItemResult.OUTCOME_ACCEPTED
        )

        async def warned(expected: str = expected) -> list[str]:
            messages = await fleet.warnings("w", FAILED, fleet.namespace)
            return [m for m in messages if expected in m]

        [message, *_] = await eventually(warned)
        assert f"{CONFIG_KIND} {config} webhook hook: AggregateStatus" in message
        if result is not None:
            assert calls(service, config, result) >= 1
        assert await fleet.status(kind, "w") == good
    assert calls(service, config, "bad-answer") >= 2  # garbage and the refusal


async def _equals(status: Any, expected: Any) -> bool:
    return bool(await status == expected)


async def test_a_configuration_that_does_not_load_keeps_the_last_good_one(
    kube: KubeClient,
    fleet: Fleet,
    server: WebhookServer,
    authority: Authority,
    service: RunningService,
) -> None:
    kind = await fleet.kind("Kept", "w")
    config = f"kept-{kind.lower()}"
    await fleet.configure(config, kind, f"{server.url}/sum", authority.ca_bundle)
    await fleet.reported(kind, "w", "m1", 1)
    await eventually(lambda: _equals(fleet.status(kind, "w"), {"ready": 1, "clusters": ["m1"]}))
    errors_before = service.service.metrics.webhook_configuration_errors._value.get()

    assert fleet.configurations is not None
    current = await kube.get(fleet.configurations, None, config)
    broken = current | {"webhooks": [current["webhooks"][0] | {"timeoutSeconds": 31}]}
    await kube.replace(fleet.configurations, broken)
    [message] = await eventually(lambda: fleet.warnings(config, LOAD_FAILED, "default"))
    assert "webhook hook: timeoutSeconds must be between 1 and 30" in message
    assert "keeps its last good version" in message
    assert service.service.metrics.webhook_configuration_errors._value.get() == errors_before + 1

    # the last good version still serves the kind
    assert (await fleet.report(kind, "w", "m1", 2)).outcome == pb.ItemResult.OUTCOME_ACCEPTED
    await eventually(lambda: _equals(fleet.status(kind, "w"), {"ready": 2, "clusters": ["m1"]}))
