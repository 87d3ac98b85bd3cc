"""The service end to end: a real gRPC client, the real local kube-apiserver."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer, sample_deployment
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS, EVENTS
from aggregator.model import ResourceKey
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from aggregator.writer import WriteMode
from tests.helpers import api_requests, eventually, writes_between

Obj = dict[str, Any]


@dataclass
class Agent:
    """A test double for a member agent: builds items with increasing sequences."""

    stub: pb_grpc.StatusAggregatorStub
    sequences: dict[tuple[str, str], int] = field(default_factory=dict)

    def item(
        self,
        cluster: str,
        namespace: str,
        name: str,
        status: Obj | None,
        *,
        generation: int = 1,
        observed: int = 1,
        template_generation: int = 1,
        removed: bool = False,
        kind: str = "Deployment",
        applied: bool = True,
        raw_status: bytes | None = None,
    ) -> pb.MemberStatus:
        seq = self.sequences.get((cluster, name), 0) + 1
        self.sequences[(cluster, name)] = seq
        return pb.MemberStatus(
            cluster=cluster,
            resource=pb.ResourceRef(
                api_version="apps/v1", kind=kind, namespace=namespace, name=name
            ),
            status_json=raw_status
            if raw_status is not None
            else (json.dumps(status).encode() if status is not None else b""),
            applied=applied,
            health=pb.HEALTH_HEALTHY,
            generation=generation,
            observed_generation=observed,
            template_generation=template_generation,
            sequence=seq,
            removed=removed,
        )

    async def report(self, *items: pb.MemberStatus) -> pb.ReportResponse:
        return await self.stub.Report(pb.ReportRequest(items=items))


def key(namespace: str, name: str) -> ResourceKey:
    return ResourceKey("apps/v1", "Deployment", namespace, name)


def ready(n: int, replicas: int = 1) -> Obj:
    return {
        "replicas": replicas,
        "readyReplicas": n,
        "availableReplicas": n,
        "updatedReplicas": replicas,
    }


@pytest.fixture
def settings() -> ServiceSettings:
    return ServiceSettings(workers=4, coalesce_delay_s=0.01, min_write_interval_s=0.3)


@pytest.fixture
async def svc(
    apiserver: LocalAPIServer, settings: ServiceSettings
) -> AsyncIterator[RunningService]:
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        qps=0,
        settings=settings,
        load_plugins=False,
    )
    async with running(options) as service:
        yield service


@pytest.fixture
async def agent(svc: RunningService) -> AsyncIterator[Agent]:
    async with grpc.aio.insecure_channel(svc.address) as channel:
        yield Agent(pb_grpc.StatusAggregatorStub(channel))


async def idle(svc: RunningService) -> None:
    """Wait until the service has nothing waiting or in flight."""
    queue = svc.service.queue

    async def probe() -> bool:
        return len(queue) == 0 and queue.in_flight == 0

    await eventually(probe)


async def status_of(kube: KubeClient, namespace: str, name: str) -> Obj:
    return (await kube.get(DEPLOYMENTS, namespace, name)).get("status", {})


async def wait_status(kube: KubeClient, namespace: str, name: str, **expected: int) -> Obj:
    async def probe() -> Obj | None:
        status = await status_of(kube, namespace, name)
        # the API server omits zero values of typed objects
        return status if all(status.get(k, 0) == v for k, v in expected.items()) else None

    result = await eventually(probe)
    assert result is not None
    return result


async def test_three_clusters_sum_with_event_on_new_version(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("web", namespace))
    reply = await agent.report(
        agent.item("member-a", namespace, "web", ready(1)),
        agent.item("member-b", namespace, "web", ready(0)),
        agent.item("member-c", namespace, "web", ready(1)),
    )
    assert [r.outcome for r in reply.results] == [pb.ItemResult.OUTCOME_ACCEPTED] * 3
    assert reply.epoch == svc.service.epoch

    status = await wait_status(kube, namespace, "web", readyReplicas=2, replicas=3)
    assert status == {
        "replicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "updatedReplicas": 3,
        "observedGeneration": 1,
    }
    live = await kube.get(DEPLOYMENTS, namespace, "web")

    async def succeeded_events() -> list[Obj]:
        events = (await kube.list(EVENTS, namespace))["items"]
        return [
            e
            for e in events
            if e["reason"] == "AggregateStatusSucceed" and e["involvedObject"]["name"] == "web"
        ]

    events = await eventually(succeeded_events)
    assert len(events) == 1
    involved = events[0]["involvedObject"]
    assert involved["uid"] == live["metadata"]["uid"]
    assert involved["resourceVersion"] == live["metadata"]["resourceVersion"]
    assert "readyReplicas" in events[0]["message"]


async def test_observed_generation_waits_for_every_member(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("gen", namespace))
    await agent.report(
        agent.item("a", namespace, "gen", ready(1)), agent.item("b", namespace, "gen", ready(1))
    )
    await wait_status(kube, namespace, "gen", observedGeneration=1, readyReplicas=2)
    live = await kube.get(DEPLOYMENTS, namespace, "gen")
    live["spec"]["replicas"] = 4
    bumped = await kube.replace(DEPLOYMENTS, live)
    assert bumped["metadata"]["generation"] == 2
    # member a caught up with template generation 2, member b not yet: keep the old value
    await agent.report(
        agent.item(
            "a", namespace, "gen", ready(2, 2), generation=2, observed=2, template_generation=2
        )
    )
    await wait_status(kube, namespace, "gen", readyReplicas=3, observedGeneration=1)
    await agent.report(
        agent.item(
            "b", namespace, "gen", ready(2, 2), generation=2, observed=2, template_generation=2
        )
    )
    await wait_status(kube, namespace, "gen", readyReplicas=4, observedGeneration=2)


async def test_unchanged_reports_make_no_api_requests(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("calm", namespace))
    await agent.report(*(agent.item(c, namespace, "calm", ready(1)) for c in ("a", "b", "c")))
    await wait_status(kube, namespace, "calm", readyReplicas=3)
    await idle(svc)
    before = await api_requests(kube, "deployments", "events")
    skips_before = svc.service.metrics.skips._value.get()
    for _ in range(20):
        await agent.report(*(agent.item(c, namespace, "calm", ready(1)) for c in ("a", "b", "c")))
    # the same content in another shape: keys reordered, an explicit null; it must be compared
    # (and found equal), not written
    same = {
        "availableReplicas": 1,
        "readyReplicas": 1,
        "replicas": 1,
        "updatedReplicas": 1,
        "unavailableReplicas": None,
    }
    await agent.report(agent.item("a", namespace, "calm", same))
    await idle(svc)
    after = await api_requests(kube, "deployments", "events")
    delta = after - before
    own_reads = {k: v for k, v in delta.items() if k[0] in ("GET", "LIST")}
    assert writes_between(before, after) == {}, delta
    assert own_reads == {}, "an unchanged status costs no API request at all"
    assert svc.service.metrics.skips._value.get() > skips_before


@pytest.mark.parametrize(
    "settings", [ServiceSettings(workers=4, coalesce_delay_s=0.02, min_write_interval_s=1.0)]
)
async def test_a_thousand_reports_in_a_second_become_a_handful_of_writes(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("spam", namespace, replicas=1000))
    before = await api_requests(kube, "deployments")
    # 1,000 reports, one per RPC, spread over about a second; the last one says 999 ready
    for i in range(1000):
        await agent.report(agent.item("a", namespace, "spam", ready(i, 1000)))
        if i % 100 == 99:
            await asyncio.sleep(0.1)
    await wait_status(kube, namespace, "spam", readyReplicas=999)
    await idle(svc)
    after = await api_requests(kube, "deployments")
    status_writes = sum(
        v for (verb, _, sub), v in writes_between(before, after).items() if sub == "status"
    )
    assert 1 <= status_writes <= 5


async def test_conflict_rereads_and_recomputes(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    """Another writer changes the object between our read and our write."""
    await kube.create(DEPLOYMENTS, sample_deployment("busy", namespace))
    await agent.report(agent.item("a", namespace, "busy", ready(1)))
    await wait_status(kube, namespace, "busy", readyReplicas=1)
    await idle(svc)
    rt, cache = await svc.service.caches.resolve("apps/v1", "Deployment")
    stale = cache.get((namespace, "busy"))
    assert stale is not None
    live = await kube.get(DEPLOYMENTS, namespace, "busy")
    live["metadata"].setdefault("labels", {})["touched"] = "yes"
    await kube.replace(DEPLOYMENTS, live)  # the cached resourceVersion is now stale
    conflicts_before = svc.service.metrics.conflicts._value.get()
    # the member items change meanwhile; the retry must use them, not the first computation
    await agent.report(agent.item("a", namespace, "busy", ready(0)))
    service = svc.service

    async def desired(obj: Obj) -> Obj:
        items = [i.aggregated_status_item() for i in service.store.items(key(namespace, "busy"))]
        return service.registry.aggregate(obj, items)["status"]

    await agent.report(agent.item("b", namespace, "busy", ready(1)))
    outcome = await service.reconciler.writer.write(
        rt, cache, stale, desired, lambda o, d: o.get("status") == d, WriteMode.UPDATE
    )
    assert outcome.attempts == 2
    assert service.metrics.conflicts._value.get() == conflicts_before + 1
    final = await kube.get(DEPLOYMENTS, namespace, "busy")
    assert final["metadata"]["labels"]["touched"] == "yes", "the other writer's change survives"
    assert final["status"]["readyReplicas"] == 1
    assert final["status"]["replicas"] == 2


async def test_label_churn_converges_without_retry_storm(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("churn", namespace))
    stop = asyncio.Event()

    async def churn() -> int:
        n = 0
        while not stop.is_set():
            live = await kube.get(DEPLOYMENTS, namespace, "churn")
            live["metadata"].setdefault("labels", {})["n"] = str(n)
            with contextlib.suppress(Exception):
                await kube.replace(DEPLOYMENTS, live)
            n += 1
        return n

    churner = asyncio.create_task(churn())
    for ready_count in range(4):
        await agent.report(agent.item("a", namespace, "churn", ready(ready_count, 3)))
        await asyncio.sleep(0.2)
    await wait_status(kube, namespace, "churn", readyReplicas=3)
    stop.set()
    await churner
    writes = svc.service.metrics.writes
    ok = writes.labels(mode="update", result="ok")._value.get()
    conflicts = svc.service.metrics.conflicts._value.get()
    assert ok <= 8
    assert conflicts <= 4 * 5, "bounded attempts per write"


async def test_status_overwritten_by_another_writer_reconverges(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("fixed", namespace))
    await agent.report(
        agent.item("a", namespace, "fixed", ready(1)), agent.item("b", namespace, "fixed", ready(1))
    )
    await wait_status(kube, namespace, "fixed", readyReplicas=2)
    live = await kube.get(DEPLOYMENTS, namespace, "fixed")
    await kube.replace_status(DEPLOYMENTS, {**live, "status": {"readyReplicas": 0}})
    await wait_status(kube, namespace, "fixed", readyReplicas=2, replicas=2)


async def test_deleted_template_is_quiet_and_recreation_converges(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("gone", namespace))
    await agent.report(agent.item("a", namespace, "gone", ready(1)))
    await wait_status(kube, namespace, "gone", readyReplicas=1)
    await idle(svc)
    await kube.delete(DEPLOYMENTS, namespace, "gone")
    _, cache = await svc.service.caches.resolve("apps/v1", "Deployment")

    async def evicted() -> bool:
        return cache.get((namespace, "gone")) is None

    await eventually(evicted)
    events_before = len((await kube.list(EVENTS, namespace))["items"])
    failures = svc.service.metrics.retries._value.get()
    for i in range(5):
        reply = await agent.report(agent.item("a", namespace, "gone", ready(i % 2)))
        assert reply.results[0].outcome == pb.ItemResult.OUTCOME_ACCEPTED
    await idle(svc)
    assert svc.service.metrics.retries._value.get() == failures
    assert len((await kube.list(EVENTS, namespace))["items"]) == events_before
    state = svc.service.state(key(namespace, "gone"))
    assert state is not None
    assert state.last_write is not None
    assert state.last_write.outcome == "not-found"
    await kube.create(DEPLOYMENTS, sample_deployment("gone", namespace))
    await wait_status(kube, namespace, "gone", readyReplicas=0, replicas=1)


async def test_stale_sequence_is_dropped(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("seq", namespace))
    newer = agent.item("a", namespace, "seq", ready(1))
    older = pb.MemberStatus()
    older.CopyFrom(newer)
    newer.sequence = 10
    older.sequence = 9
    older.status_json = json.dumps(ready(0)).encode()
    first = await agent.report(newer)
    again = await agent.report(newer)
    late = await agent.report(older)
    assert first.results[0].outcome == pb.ItemResult.OUTCOME_ACCEPTED
    assert again.results[0].outcome == pb.ItemResult.OUTCOME_STALE
    assert late.results[0].outcome == pb.ItemResult.OUTCOME_STALE
    await wait_status(kube, namespace, "seq", readyReplicas=1)


async def test_sync_removes_missing_items_and_removed_flag_drops_cluster(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    for name in ("s1", "s2"):
        await kube.create(DEPLOYMENTS, sample_deployment(name, namespace))
    await agent.report(
        agent.item("a", namespace, "s1", ready(1)),
        agent.item("a", namespace, "s2", ready(1)),
        agent.item("b", namespace, "s1", ready(1)),
    )
    await wait_status(kube, namespace, "s1", readyReplicas=2)
    await wait_status(kube, namespace, "s2", readyReplicas=1)
    # cluster a resyncs and only has s1 now
    await agent.stub.Sync(
        pb.SyncRequest(cluster="a", items=[agent.item("a", namespace, "s1", ready(1))])
    )
    await wait_status(kube, namespace, "s2", replicas=0, readyReplicas=0)
    # cluster b says s1 left it
    await agent.report(agent.item("b", namespace, "s1", None, removed=True))
    await wait_status(kube, namespace, "s1", readyReplicas=1, replicas=1)


async def test_bad_items_are_rejected_and_the_rest_is_processed(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("mixed", namespace))
    good = agent.item("a", namespace, "mixed", ready(1))
    cases = {
        "not json": agent.item("b", namespace, "mixed", None, raw_status=b"{nope"),
        "not an object": agent.item("c", namespace, "mixed", None, raw_status=b"[1, 2]"),
        "unknown kind": agent.item("d", namespace, "mixed", ready(1), kind="Gizmo"),
        "bad name": agent.item("e", namespace, "Not_A_Name", ready(1)),
        "empty cluster": agent.item("", namespace, "mixed", ready(1)),
        "duplicate": agent.item("a", namespace, "mixed", ready(1)),
    }
    reply = await agent.report(good, *cases.values())
    outcomes = [r.outcome for r in reply.results]
    assert outcomes[0] == pb.ItemResult.OUTCOME_ACCEPTED
    assert outcomes[1:] == [pb.ItemResult.OUTCOME_REJECTED] * len(cases)
    reasons = dict(zip(cases, [r.reason for r in reply.results[1:]], strict=True))
    assert "not JSON" in reasons["not json"]
    assert "JSON object" in reasons["not an object"]
    assert "Gizmo" in reasons["unknown kind"]
    assert "not a valid name" in reasons["bad name"]
    assert "cluster is empty" in reasons["empty cluster"]
    assert "duplicate" in reasons["duplicate"]
    await wait_status(kube, namespace, "mixed", readyReplicas=1, replicas=1)


async def test_get_aggregate_shows_items_aggregate_and_last_write(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("shown", namespace))
    await agent.report(
        agent.item("b", namespace, "shown", ready(1)), agent.item("a", namespace, "shown", ready(0))
    )
    await wait_status(kube, namespace, "shown", readyReplicas=1)
    await idle(svc)
    reply = await agent.stub.GetAggregate(
        pb.GetAggregateRequest(
            resource=pb.ResourceRef(
                api_version="apps/v1", kind="Deployment", namespace=namespace, name="shown"
            )
        )
    )
    assert [i.cluster for i in reply.items] == ["a", "b"]
    assert json.loads(reply.aggregated_status_json)["readyReplicas"] == 1
    assert reply.last_write.outcome in ("written", "skipped")
    live = await kube.get(DEPLOYMENTS, namespace, "shown")
    assert reply.last_write.resource_version == live["metadata"]["resourceVersion"]


@pytest.mark.parametrize("mode", [WriteMode.MERGE_PATCH, WriteMode.APPLY])
async def test_other_write_modes_converge(
    apiserver: LocalAPIServer, kube: KubeClient, namespace: str, mode: WriteMode
) -> None:
    settings = ServiceSettings(
        workers=2, coalesce_delay_s=0.01, min_write_interval_s=0.1, write_mode=mode
    )
    options = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        qps=0,
        settings=settings,
        load_plugins=False,
    )
    await kube.create(DEPLOYMENTS, sample_deployment("moded", namespace))
    async with running(options) as service, grpc.aio.insecure_channel(service.address) as ch:
        agent = Agent(pb_grpc.StatusAggregatorStub(ch))
        await agent.report(agent.item("a", namespace, "moded", {**ready(1), "extra": 5}))
        await wait_status(kube, namespace, "moded", readyReplicas=1)
        await agent.report(
            agent.item("a", namespace, "moded", ready(0)),
            agent.item("b", namespace, "moded", ready(1)),
        )
        status = await wait_status(kube, namespace, "moded", replicas=2, readyReplicas=1)
        assert status["availableReplicas"] == 1
        counted = service.service.metrics.writes.labels(mode=mode.value, result="ok")
        assert counted._value.get() >= 2


async def test_epoch_is_new_on_every_start(apiserver: LocalAPIServer) -> None:
    epochs = []
    for _ in range(2):
        options = ServeOptions(
            kubeconfig=apiserver.kubeconfig,
            listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            load_plugins=False,
        )
        async with running(options) as service, grpc.aio.insecure_channel(service.address) as ch:
            reply = await pb_grpc.StatusAggregatorStub(ch).Report(pb.ReportRequest())
            epochs.append(reply.epoch)
    assert len(set(epochs)) == 2
    assert all(epochs)


def status_writes(before: Any, after: Any) -> int:
    return sum(v for (_, _, sub), v in writes_between(before, after).items() if sub == "status")


@pytest.mark.parametrize(
    "settings", [ServiceSettings(workers=4, coalesce_delay_s=30.0, min_write_interval_s=0.3)]
)
async def test_a_report_to_an_idle_service_is_written_without_the_coalescing_delay(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("idle", namespace))
    before = await api_requests(kube, "deployments")

    async def written() -> bool:
        return (await status_of(kube, namespace, "idle")).get("readyReplicas") == 1

    await agent.report(agent.item("member-a", namespace, "idle", ready(1)))
    await eventually(written, within=10.0)  # well inside the 30 s delay
    assert status_writes(before, await api_requests(kube, "deployments")) == 1


@pytest.mark.parametrize(
    "settings", [ServiceSettings(workers=2, coalesce_delay_s=2.0, min_write_interval_s=60.0)]
)
async def test_a_batch_bigger_than_the_free_workers_folds_the_next_batch_into_one_write(
    kube: KubeClient, namespace: str, svc: RunningService, agent: Agent
) -> None:
    names = [f"busy-{i}" for i in range(4)]  # twice the workers
    for name in names:
        await kube.create(DEPLOYMENTS, sample_deployment(name, namespace, replicas=2))
    before = await api_requests(kube, "deployments")
    for cluster in ("member-a", "member-b"):
        await agent.report(*(agent.item(cluster, namespace, n, ready(1)) for n in names))
    # a partial write would hold the complete one back for the 60 s minimum interval, and no
    # second write of a template can start within it: the count below is final
    for name in names:
        await wait_status(kube, namespace, name, readyReplicas=2)
    assert status_writes(before, await api_requests(kube, "deployments")) == len(names)
