"""What a running service exposes on /metrics: conventional series with bounded label values."""

from __future__ import annotations

import platform
from collections.abc import AsyncIterator
from importlib.metadata import version

import pytest

from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from aggregator.rejection import RejectReason
from aggregator.serve import RunningService
from tests.metrics_traffic import samples, serve_with_traffic


@pytest.fixture
async def scraped(
    apiserver: LocalAPIServer, kube: KubeClient, namespace: str
) -> AsyncIterator[tuple[RunningService, str]]:
    async for served in serve_with_traffic(apiserver, kube, namespace):
        yield served


def value(text: str, metric: str, /, **labels: str) -> float:
    """The sum of the samples of ``metric`` whose labels include ``labels``."""
    found = [
        s.value
        for s in samples(text)
        if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert found, f"no sample {metric}{labels}"
    return sum(found)


async def test_process_python_and_build_series_without_created(
    scraped: tuple[RunningService, str],
) -> None:
    _, text = scraped
    names = {s.name for s in samples(text)}
    assert value(text, "process_resident_memory_bytes") > 0
    assert value(text, "process_open_fds") > 0
    assert "python_gc_collections_total" in names
    assert value(text, "python_info", version=platform.python_version()) == 1
    assert not [n for n in names if n.endswith("_created")]
    build = value(
        text, "statusagg_build_info", version=version("statusagg"), python=platform.python_version()
    )
    assert build == 1


async def test_rejections_are_labelled_from_the_fixed_reasons(
    scraped: tuple[RunningService, str],
) -> None:
    _, text = scraped
    rejected = {
        s.labels["reason"]: s.value
        for s in samples(text)
        if s.name == "statusagg_reports_total" and s.labels["result"] == "rejected"
    }
    assert rejected == {
        RejectReason.INVALID_STATUS: 1,
        RejectReason.UNSUPPORTED_KIND: 1,
        RejectReason.INVALID_NAME: 1,
        RejectReason.DUPLICATE_ITEM: 1,
    }
    assert value(text, "statusagg_reports_total", result="accepted") == 3


async def test_rpc_latency_per_method_and_code(scraped: tuple[RunningService, str]) -> None:
    _, text = scraped
    service = "statusagg.v1.StatusAggregator"
    rpc = "grpc_server_handling_seconds_count"
    common = {"grpc_type": "unary", "grpc_service": service}
    assert value(text, rpc, grpc_method="Report", grpc_code="OK", **common) == 1
    assert value(text, rpc, grpc_method="Sync", grpc_code="OK", **common) == 1
    assert value(text, rpc, grpc_method="Sync", grpc_code="INVALID_ARGUMENT", **common) == 1
    assert value(text, "grpc_server_handling_seconds_sum", grpc_method="Report") > 0


async def test_work_queue_series_in_client_go_names(scraped: tuple[RunningService, str]) -> None:
    _, text = scraped
    status = {"name": "status"}
    assert value(text, "workqueue_adds_total", **status) >= 1
    assert value(text, "workqueue_depth", **status) == value(text, "statusagg_queue_depth")
    assert value(text, "workqueue_queue_duration_seconds_count", **status) >= 1
    assert value(text, "workqueue_work_duration_seconds_count", **status) >= 1
    assert value(text, "workqueue_retries_total", **status) == 0
    assert value(text, "workqueue_unfinished_work_seconds", **status) >= 0
    assert value(text, "workqueue_longest_running_processor_seconds", **status) >= 0
