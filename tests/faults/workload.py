"""Report workloads for fault tests, the offline truth they imply, and a watch of the writes."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import sample_deployment
from aggregator.events import EventSettings
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS, NAMESPACES
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from tests.helpers import eventually

SUMMED = ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas")


def member_status(ready: int) -> dict[str, int]:
    """A member Deployment status; ``ready`` is a counter that only grows in monotonic loads."""
    return {
        "replicas": 1000,
        "updatedReplicas": 1000,
        "readyReplicas": ready,
        "availableReplicas": ready,
    }


@dataclass
class Fleet:
    """Simulated agents that remember what they last reported: the offline truth."""

    namespace: str
    names: list[str]
    clusters: tuple[str, ...] = ("a", "b", "c")
    sequence: int = 0
    reported: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    items_sent: int = 0

    def item(self, cluster: str, name: str, status: dict[str, int]) -> pb.MemberStatus:
        self.sequence += 1
        return pb.MemberStatus(
            cluster=cluster,
            resource=pb.ResourceRef(
                api_version="apps/v1", kind="Deployment", namespace=self.namespace, name=name
            ),
            status_json=json.dumps(status).encode(),
            applied=True,
            generation=1,
            observed_generation=1,
            template_generation=1,
            sequence=self.sequence,
        )

    async def report(
        self, stub: pb_grpc.StatusAggregatorStub, cluster: str, statuses: dict[str, dict[str, int]]
    ) -> pb.ReportResponse:
        """Report ``statuses`` (name -> status) for one cluster; the truth moves on success."""
        items = [self.item(cluster, name, status) for name, status in statuses.items()]
        reply: pb.ReportResponse = await stub.Report(pb.ReportRequest(items=items), timeout=30)
        for result in reply.results:
            assert result.outcome == pb.ItemResult.OUTCOME_ACCEPTED, result.reason
        self.items_sent += len(items)
        for name, status in statuses.items():
            self.reported[(cluster, name)] = status
        return reply

    async def round(self, stub: pb_grpc.StatusAggregatorStub, ready: int) -> None:
        """Every cluster reports every resource with readyReplicas ``ready`` (+ cluster index)."""
        for index, cluster in enumerate(self.clusters):
            await self.report(stub, cluster, {n: member_status(ready + index) for n in self.names})

    def expected(self, name: str) -> dict[str, int]:
        totals = dict.fromkeys(SUMMED, 0)
        for (_, reported_name), status in self.reported.items():
            if reported_name == name:
                for key in SUMMED:
                    totals[key] += status[key]
        return totals


async def create_templates(kube: KubeClient, namespace: str, names: Iterable[str]) -> None:
    with contextlib.suppress(Exception):
        await kube.create(NAMESPACES, {"metadata": {"name": namespace}})
    for name in names:
        await kube.create(DEPLOYMENTS, sample_deployment(name, namespace, 3))


def summed(status: dict[str, Any] | None) -> dict[str, int]:
    status = status or {}
    return {key: int(status.get(key, 0)) for key in SUMMED}


async def lost_updates(
    kube: KubeClient, namespace: str, expected: dict[str, dict[str, int]]
) -> list[str]:
    """Templates whose live status differs from the offline aggregate ``expected``."""
    listing = await kube.list(DEPLOYMENTS, namespace)
    live = {i["metadata"]["name"]: summed(i.get("status")) for i in listing["items"]}
    return sorted(name for name, want in expected.items() if live.get(name) != want)


@dataclass
class StatusHistory:
    """Every status the API server stored for the templates of one namespace, in order, seen
    through the test's own watch (straight to the API server, never through a fault)."""

    by_name: dict[str, list[tuple[int, dict[str, int]]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    events: int = 0
    gaps: int = 0

    def regressions(self, key: str = "readyReplicas") -> list[str]:
        """Templates whose ``key`` ever went down: an older aggregate written after a newer."""
        out = []
        for name, history in self.by_name.items():
            values = [status[key] for _, status in history]
            if any(b < a for a, b in itertools.pairwise(values)):
                out.append(f"{name}: {values}")
        return out

    def status_changes(self) -> int:
        """Stored statuses that differ from the one before (one per effective write)."""
        changes = 0
        for history in self.by_name.values():
            previous: dict[str, int] | None = None
            for _, status in history:
                if status != previous:
                    changes += 1
                previous = status
        return changes - len(self.by_name)  # the first entry of each is the creation


@contextlib.asynccontextmanager
async def watching(kube: KubeClient, namespace: str) -> AsyncIterator[StatusHistory]:
    """Record the namespace's Deployment statuses from now until the block ends."""
    history = StatusHistory()
    listing = await kube.list(DEPLOYMENTS, namespace)
    for obj in listing["items"]:
        rv = int(obj["metadata"]["resourceVersion"])
        history.by_name[obj["metadata"]["name"]].append((rv, summed(obj.get("status"))))
    resource_version = listing["metadata"]["resourceVersion"]

    async def run() -> None:
        nonlocal resource_version
        while True:
            try:
                async for event in kube.watch(
                    DEPLOYMENTS, resource_version, namespace=namespace, timeout_seconds=600
                ):
                    obj = event["object"]
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] not in ("ADDED", "MODIFIED"):
                        continue
                    history.events += 1
                    name = obj["metadata"]["name"]
                    history.by_name[name].append((int(resource_version), summed(obj.get("status"))))
            except asyncio.CancelledError:
                raise
            except Exception:
                history.gaps += 1  # resumed from the last resourceVersion: nothing missed

    task = asyncio.create_task(run(), name="status history")
    try:
        yield history
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def service_for(
    kubeconfig: Path,
    *,
    listen: str = "127.0.0.1:0",
    events: bool = True,
    **settings: Any,
) -> AsyncIterator[tuple[RunningService, pb_grpc.StatusAggregatorStub]]:
    """The service in-process (its metrics and queue are readable) and a stub to it."""
    defaults: dict[str, Any] = {"workers": 4, "min_write_interval_s": 0.2, "max_backoff_s": 2.0}
    options = ServeOptions(
        kubeconfig=kubeconfig,
        listen=listen,
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        settings=ServiceSettings(**{**defaults, **settings}, events=EventSettings(enabled=events)),
    )
    async with running(options) as svc, grpc.aio.insecure_channel(svc.address) as channel:
        yield svc, pb_grpc.StatusAggregatorStub(channel)


def counter(metric: Any, **labels: str) -> float:
    """The value of a prometheus counter (optionally one label set) of an in-process service."""
    if labels:
        return float(metric.labels(**labels)._value.get())
    return float(metric._value.get())


def labelled_total(metric: Any, **match: str) -> float:
    """Sum of a labelled counter over the label sets matching ``match``."""
    total = 0.0
    for family in metric.collect():
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            if all(sample.labels.get(k) == v for k, v in match.items()):
                total += sample.value
    return total


def sizes(svc: RunningService) -> dict[str, int]:
    """What the service holds in memory, by structure."""
    service = svc.service
    queue = service.queue
    return {
        "queue waiting": len(queue),
        "queue in flight": queue.in_flight,
        "pending keys": len(queue) + queue.in_flight,
        "queue heap": len(queue._heap),
        "queue start times": len(queue._last_start),
        "key states": len(service.reconciler.states),
        "member items": len(service.store),
    }


@contextlib.asynccontextmanager
async def peaks(
    probes: dict[str, Callable[[], int]], every_s: float = 0.005
) -> AsyncIterator[dict[str, int]]:
    """The largest value each probe returned while the block ran (sampled)."""
    found: dict[str, int] = {name: probe() for name, probe in probes.items()}

    def sample() -> None:
        for name, probe in probes.items():
            found[name] = max(found[name], probe())

    async def run() -> None:
        while True:
            sample()
            await asyncio.sleep(every_s)

    task = asyncio.create_task(run(), name="peaks")
    try:
        yield found
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sample()


def peaks_of(svc: RunningService) -> contextlib.AbstractAsyncContextManager[dict[str, int]]:
    """Peaks of what the service holds in memory (``sizes``)."""
    return peaks({name: _size_probe(svc, name) for name in sizes(svc)})


def _size_probe(svc: RunningService, name: str) -> Callable[[], int]:
    return lambda: sizes(svc)[name]


async def until(predicate: Callable[[], object], *, within: float = 60.0) -> None:
    """Wait until a synchronous condition holds (``eventually`` for in-process state)."""

    async def probe() -> bool:
        return bool(predicate())

    await eventually(probe, within=within, interval=0.01)
