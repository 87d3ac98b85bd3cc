"""Hostile Report batches: the server stays up, every bad item gets a reason, healthy callers
are unaffected, and nothing malformed reaches the API server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TypeVar

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer, sample_deployment
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from tests.faults.conftest import Scale
from tests.faults.report import FaultReport, reason_class
from tests.helpers import eventually

INT64 = 2**63 - 1
CASES = {"examples": 0}
T = TypeVar("T")


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
replica_fields = st.sampled_from(
    ["replicas", "readyReplicas", "availableReplicas", "updatedReplicas", "observedGeneration"]
)
hostile_status = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(replica_fields, json_values, max_size=5).map(lambda d: json.dumps(d).encode()),
    st.integers(1, 200).map(lambda depth: ("[" * depth + "]" * depth).encode()),
    st.just(b'{"replicas": 1, "replicas": 2}'),
    st.just(b'{"replicas": NaN}'),
    st.just(('{"x": "' + "y" * 300_000 + '"}').encode()),
)


def mostly(usual: st.SearchStrategy[T], hostile: st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    """``usual`` in four draws out of five, so that most items get past the identity checks
    and reach the deeper ones (``one_of`` would pick each side half the time)."""
    return st.integers(0, 4).flatmap(lambda n: usual if n else hostile)


names = mostly(st.sampled_from(["fuzz-a", "fuzz-b"]), st.text(max_size=20))
clusters = mostly(st.sampled_from(["m1", "m2"]), st.one_of(st.just(""), st.text(max_size=20)))
kinds = mostly(
    st.just(("apps/v1", "Deployment")),
    st.tuples(
        st.sampled_from(["apps/v1", "v1", "apps/v9x"]),
        st.sampled_from(["Deployment", "StatefulSet", "Gizmo", "", "deployment"]),
    ),
)
generations = mostly(st.one_of(st.none(), st.integers(0, INT64)), st.integers(-(2**63), INT64))


@st.composite
def hostile_items(draw: st.DrawFn, namespace: str) -> pb.MemberStatus:
    api_version, kind = draw(kinds)
    item = pb.MemberStatus(
        cluster=draw(clusters),
        resource=pb.ResourceRef(
            api_version=api_version,
            kind=kind,
            namespace=namespace,
            name=draw(names),
        ),
        status_json=draw(hostile_status),
        applied=draw(mostly(st.just(True), st.just(False))),
        applied_message=draw(st.text(max_size=30)),
        health=draw(st.sampled_from([0, 1, 2, 3, 7])),  # type: ignore[arg-type]
        sequence=draw(st.integers(0, 2**64 - 1)),
        removed=draw(mostly(st.just(False), st.just(True))),
    )
    for field in ("generation", "observed_generation", "template_generation"):
        value = draw(generations)
        if value is not None:
            setattr(item, field, value)
    return item


@pytest.fixture
async def fuzz_service(apiserver: LocalAPIServer) -> AsyncIterator[RunningService]:
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        max_message_bytes=4 * 1024 * 1024,
        settings=ServiceSettings(workers=2, coalesce_delay_s=0.01, min_write_interval_s=0.05),
    )
    async with running(options) as svc:
        yield svc


async def test_hostile_batches_never_hurt_the_service(
    kube: KubeClient,
    namespace: str,
    fuzz_service: RunningService,
    scale: Scale,
    fault_report: FaultReport,
) -> None:
    for name in ("fuzz-a", "fuzz-b", "healthy"):
        await kube.create(DEPLOYMENTS, sample_deployment(name, namespace))
    loop = asyncio.get_running_loop()
    async with grpc.aio.insecure_channel(fuzz_service.address) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)

        @settings(
            max_examples=600 if scale.soak else 60,
            deadline=None,
            suppress_health_check=[
                HealthCheck.function_scoped_fixture,
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
            ],
        )
        @given(st.lists(hostile_items(namespace), max_size=12))
        def check(batch: list[pb.MemberStatus]) -> None:
            CASES["examples"] += 1
            fault_report.fuzz.cases += 1
            fault_report.fuzz.items += len(batch)

            async def send() -> pb.ReportResponse:
                reply: pb.ReportResponse = await stub.Report(
                    pb.ReportRequest(items=batch), timeout=30
                )
                return reply

            future = asyncio.run_coroutine_threadsafe(send(), loop)
            try:
                reply = future.result(timeout=60)
            except grpc.aio.AioRpcError as exc:  # only an oversized message may fail whole
                fault_report.fuzz.rejected_calls[exc.code().name] += 1
                assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # noqa: PT017
                return
            assert len(reply.results) == len(batch)
            for result in reply.results:
                assert result.outcome in (
                    pb.ItemResult.OUTCOME_ACCEPTED,
                    pb.ItemResult.OUTCOME_STALE,
                    pb.ItemResult.OUTCOME_REJECTED,
                )
                if result.outcome == pb.ItemResult.OUTCOME_REJECTED:
                    assert result.reason
                    fault_report.fuzz.rejected_items[reason_class(result.reason)] += 1

        await loop.run_in_executor(None, check)
        assert CASES["examples"] >= 30

        # a healthy caller is served normally afterwards
        good = pb.MemberStatus(
            cluster="healthy-member",
            resource=pb.ResourceRef(
                api_version="apps/v1", kind="Deployment", namespace=namespace, name="healthy"
            ),
            status_json=b'{"replicas": 1, "readyReplicas": 1}',
            applied=True,
            sequence=1,
            generation=1,
            observed_generation=1,
            template_generation=1,
        )
        reply = await stub.Report(pb.ReportRequest(items=[good]))
        assert reply.results[0].outcome == pb.ItemResult.OUTCOME_ACCEPTED

    async def healthy_written() -> bool:
        status = (await kube.get(DEPLOYMENTS, namespace, "healthy")).get("status", {})
        return bool(status.get("readyReplicas") == 1)

    await eventually(healthy_written)
    # whatever was written to the fuzzed templates is a well-formed Deployment status
    for name in ("fuzz-a", "fuzz-b"):
        status = (await kube.get(DEPLOYMENTS, namespace, name)).get("status", {})
        for value in status.values():
            assert isinstance(value, int | list | dict)
    metrics = fuzz_service.service.metrics
    writes_refused = metrics.writes.labels(mode="update", result="error")._value.get()
    assert writes_refused == 0
