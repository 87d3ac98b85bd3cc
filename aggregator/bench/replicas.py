"""Throughput with 1, 2, 3 ... sharded replicas: the ``replicas`` figure.

For each replica count k, k ``statusagg serve --shard`` processes (a fresh shard group, its
Leases in a fresh namespace) run with the bench's service settings. Once every replica sees k
members and no handover is under way, one simulated agent per member cluster (agent i connected
to replica i mod k, as a Kubernetes Service pins a connection to one pod) Syncs its items, then
the agents send bursts: every item of every resource changes at once, one ``Report`` per 1,000
items, all in flight together. A burst is measured from its first Report until every template
shows the offline aggregate (a watch on the namespace, checked with a list at the end), with the
status writes the API server counted; throughput is effective status writes per second. The
first burst of each k is a warm-up: checked, not kept.

Every k uses the same templates: each burst raises every item's version by one, and the agents
of the next k start with a Sync of the versions the last burst left.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.bench.accounting import process_cpu_s, request_counts, requests_between, wait_quiet
from aggregator.bench.objects import create_templates, remove_objects
from aggregator.bench.observe import StatusObserver
from aggregator.bench.replay import replay
from aggregator.bench.runner import wrong_templates
from aggregator.bench.scenarios import (
    REPLICAS,
    Obj,
    Report,
    Scenario,
    Wave,
    cluster_name,
    template_name,
)
from aggregator.bench.strategies.base import bench_client
from aggregator.bench.strategies.statusagg import (
    MAX_MESSAGE_BYTES,
    REPORT_METHOD,
    member_items,
    report_payloads,
)
from aggregator.kube.client import KubeClient
from aggregator.kube.resources import DEPLOYMENTS, NAMESPACES
from aggregator.normalize import comparable
from aggregator.service import ServiceSettings
from aggregator.shard.processes import ReplicaProcess
from interpreters import build_registry

SYNC_METHOD = "/statusagg.v1.StatusAggregator/Sync"
CLUSTERS = 3
LEASE_DURATION_S = 15  # serve's default; the bench never kills a replica
HANDOVER_S = 2.0  # replicas start empty: there is nothing to hand over, only a window to wait
READY_TIMEOUT_S = 90.0
HEARTBEAT_S = 1.0
WARMUP = 1  # bursts per replica count before the measured ones (connections, first writes)
POLL_S = 0.2

FORWARDED = "statusagg_shard_forwarded_items_total"
VIEW_CHANGES = "statusagg_shard_ownership_changes_total"
FENCED = "statusagg_shard_fenced_total"
WORK = ("statusagg_status_writes_total", "statusagg_status_skips_total", FENCED)


def parse_counts(text: str) -> tuple[int, ...]:
    """``"1,2,3"`` as (1, 2, 3); empty or ``"0"``: none."""
    counts = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    if any(count < 0 for count in counts):
        raise ValueError(f"replica counts must not be negative: {text!r}")
    return tuple(count for count in counts if count > 0)


def serve_args(settings: ServiceSettings) -> list[str]:
    """``statusagg serve`` flags for ``settings`` (what the CLI can express), no client-side rate
    limit (as every strategy of the bench), and a short handover window."""
    events = settings.events
    object_interval = 1 / events.per_object_qps if events.per_object_qps > 0 else 0
    return [
        "--workers", str(settings.workers),
        "--coalesce-delay", str(settings.coalesce_delay_s),
        "--min-write-interval", str(settings.min_write_interval_s),
        "--write-mode", settings.write_mode.value,
        "--write-attempts", str(settings.write_attempts),
        "--events", "true" if events.enabled else "false",
        "--event-qps", str(events.global_qps),
        "--event-burst", str(events.global_burst),
        "--event-object-interval", str(object_interval),
        "--qps", "0",
        "--reflection", "false",
        "--max-message-bytes", str(MAX_MESSAGE_BYTES),
        "--handover", str(HANDOVER_S),
    ]  # fmt: skip


def metric_sum(text: str, name: str) -> float:
    """The sum of every sample of ``name`` (any labels) in a Prometheus text exposition."""
    pattern = rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$"
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


@dataclass(frozen=True)
class BurstResult:
    converge_s: float
    effective_changes: int
    status_writes: int
    event_writes: int
    conflicts: int
    items_sent: int
    forwarded_items: int  # items a replica passed on to their owner (Report and Sync)
    view_changes: int  # membership view changes seen by the replicas (0 in a stable group)
    fenced: int  # reconciles a replica did not write because it did not own the resource
    resyncs: int  # Syncs the agents made because the view id changed
    retries: int  # calls retried after UNAVAILABLE
    replicas_cpu_s: list[float]  # each replica process's, until convergence
    apiserver_cpu_s: float
    bench_cpu_s: float  # this process: the agents and the watch
    correct: bool

    @property
    def writes_per_s(self) -> float:
        return self.effective_changes / max(1e-9, self.converge_s)


@dataclass(frozen=True)
class ReplicasRun:
    replicas: int
    resources: int
    bursts_planned: int
    ready_s: float  # from starting the processes to a settled group
    bursts: list[BurstResult] = field(default_factory=list)
    error: str = ""

    @property
    def correct(self) -> bool:
        return not self.error and len(self.bursts) == self.bursts_planned

    def median(self, value: Callable[[BurstResult], float]) -> float:
        return statistics.median(value(b) for b in self.bursts) if self.bursts else 0.0


@dataclass(frozen=True)
class ReplicasResult:
    resources: int
    clusters: int
    bursts: int
    serve_args: list[str]
    runs: list[ReplicasRun]
    elapsed_s: float


class _Group:
    """k replica processes of one shard group."""

    def __init__(
        self, kubeconfig: Path, count: int, namespace: str, log_dir: Path, args: list[str]
    ) -> None:
        group = f"bench-{count}-{uuid.uuid4().hex[:6]}"
        self.count = count
        self.processes = [
            ReplicaProcess(
                f"replica-{index}",
                kubeconfig,
                namespace,
                group,
                log_dir / f"{group}-replica-{index}.log",
                extra_args=args,
                lease_duration_s=LEASE_DURATION_S,
            )
            for index in range(count)
        ]

    def start(self) -> None:
        for process in self.processes:
            process.start()

    async def stop(self) -> None:
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in self.processes))

    def _check_alive(self) -> None:
        for process in self.processes:
            assert process.process is not None
            if process.process.poll() is not None:
                raise RuntimeError(
                    f"replica {process.replica_id} exited with {process.process.returncode} "
                    f"(log: {process.log_path})"
                )

    async def _texts(self) -> list[str] | None:
        self._check_alive()
        texts = await asyncio.gather(*(p.metrics_text() for p in self.processes))
        return None if any(t is None for t in texts) else [t or "" for t in texts]

    async def wait_ready(self, timeout_s: float) -> None:
        """Until every replica holds its Lease, sees ``count`` members and hands nothing over."""
        deadline = time.monotonic() + timeout_s
        while True:
            texts = await self._texts()
            if texts is not None and all(
                metric_sum(t, "statusagg_shard_is_member") == 1
                and metric_sum(t, "statusagg_shard_members") == self.count
                and metric_sum(t, "statusagg_shard_handover") == 0
                for t in texts
            ):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.count} replicas did not form a group in {timeout_s}s")
            await asyncio.sleep(POLL_S)

    async def totals(self, *names: str) -> dict[str, float]:
        """Each metric summed over the replicas."""
        texts = await self._texts()
        if texts is None:
            raise RuntimeError("a replica did not answer on /metrics")
        return {name: sum(metric_sum(t, name) for t in texts) for name in names}

    async def wait_idle(self, timeout_s: float) -> None:
        """Until no key waits in any queue and no reconcile finished for two polls."""
        deadline = time.monotonic() + timeout_s
        last: dict[str, float] = {}
        while time.monotonic() < deadline:
            now = await self.totals("statusagg_queue_depth", *WORK)
            if now["statusagg_queue_depth"] == 0 and now == last:
                return
            last = now
            await asyncio.sleep(2 * POLL_S)
        raise TimeoutError(f"the replicas did not go idle within {timeout_s}s")

    def cpu_s(self) -> list[float]:
        return [process_cpu_s(p.process.pid if p.process else None) for p in self.processes]


class _Agents:
    """One simulated agent per member cluster, each connected to one replica. As the agent does,
    each Syncs at start and whenever a reply carries another view id than the last one, and
    sends an empty Report as a heartbeat when it has nothing else to send."""

    def __init__(
        self, namespace: str, resources: int, clusters: int, replicas: list[ReplicaProcess]
    ) -> None:
        self.namespace = namespace
        self.resources = resources
        self.addresses = [replicas[c % len(replicas)].address for c in range(clusters)]
        self.epochs = [""] * clusters
        self.versions = [0] * clusters  # what each cluster's items are at
        self.resyncs = 0
        self.retries = 0
        self._locks = [asyncio.Lock() for _ in range(clusters)]
        self._sequence = 0
        self._timeout_s = 60.0

    @contextlib.asynccontextmanager
    async def connected(self) -> AsyncIterator[_Agents]:
        options = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        async with contextlib.AsyncExitStack() as stack:
            channels = [
                await stack.enter_async_context(grpc.aio.insecure_channel(a, options=options))
                for a in self.addresses
            ]
            self._report = [c.unary_unary(REPORT_METHOD, None, None) for c in channels]
            self._sync = [c.unary_unary(SYNC_METHOD, None, None) for c in channels]
            heartbeat = asyncio.create_task(self._heartbeat(), name="bench agents heartbeat")
            try:
                yield self
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat

    def next_sequence(self) -> int:
        self._sequence += 1
        return self._sequence

    def payloads(self, version: int) -> list[list[bytes]]:
        """Per cluster, the encoded Reports that move every item to ``version``."""
        sequence = self.next_sequence()
        return [
            report_payloads(
                self.namespace, [[Report(r, c, version) for r in range(self.resources)]], sequence
            )
            for c in range(len(self.addresses))
        ]

    async def _call(
        self, method: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes], payload: bytes
    ) -> pb.ReportResponse:
        delay, deadline = 0.1, time.monotonic() + self._timeout_s
        while True:
            try:
                reply = pb.ReportResponse.FromString(await method(payload))
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE or time.monotonic() > deadline:
                    raise
                self.retries += 1
                await asyncio.sleep(delay)
                delay = min(2 * delay, 1.0)
                continue
            for result in reply.results:
                if result.outcome == pb.ItemResult.OUTCOME_REJECTED:
                    raise RuntimeError(f"the service rejected an item: {result.reason}")
            return reply

    async def _sync_locked(self, cluster: int) -> None:
        reports = [Report(r, cluster, self.versions[cluster]) for r in range(self.resources)]
        request = pb.SyncRequest(
            cluster=cluster_name(cluster),
            items=member_items(self.namespace, reports, self.next_sequence()),
        )
        reply = await self._call(self._sync[cluster], request.SerializeToString())
        self.epochs[cluster] = reply.epoch

    async def _observe(self, cluster: int, replies: Sequence[pb.ReportResponse]) -> None:
        if any(reply.epoch != self.epochs[cluster] for reply in replies):
            self.resyncs += 1
            await self._sync_locked(cluster)

    async def sync_all(self, version: int) -> None:
        async def one(cluster: int) -> None:
            async with self._locks[cluster]:
                self.versions[cluster] = version
                await self._sync_locked(cluster)

        await asyncio.gather(*(one(c) for c in range(len(self.addresses))))

    async def deliver(self, payloads: list[list[bytes]], version: int) -> None:
        """Send every cluster's Reports at once; resync a cluster whose view id changed."""

        async def one(cluster: int) -> None:
            async with self._locks[cluster]:
                self.versions[cluster] = version
                replies = await asyncio.gather(
                    *(self._call(self._report[cluster], p) for p in payloads[cluster])
                )
                await self._observe(cluster, replies)

        await asyncio.gather(*(one(c) for c in range(len(self.addresses))))

    async def _heartbeat(self) -> None:
        async def one(cluster: int) -> None:
            async with self._locks[cluster]:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    await self._observe(cluster, [await self._call(self._report[cluster], b"")])

        while True:
            await asyncio.sleep(HEARTBEAT_S)
            await asyncio.gather(*(one(c) for c in range(len(self.addresses))))


def expected_statuses(
    resources: int, clusters: int, versions: int
) -> tuple[list[Obj], list[dict[str, Obj]]]:
    """The statuses to write at set-up (every item at version 0), and per version
    0..``versions`` (every item at it) each template's comparable status."""
    waves = tuple(
        Wave(float(v), tuple(Report(r, c, v) for c in range(clusters) for r in range(resources)))
        for v in range(1, versions + 1)
    )
    scenario = Scenario("replicas", resources, clusters, waves, preload=True)
    result = replay(scenario, build_registry(load_plugins=False))
    current = [comparable(status) for status in result.initial]
    by_version = [dict(enumerate(current))]
    for wave in range(versions):
        for resource, changes in enumerate(result.changes):
            for change in changes:
                if change.wave == wave:
                    current[resource] = change.comparable
        by_version.append(dict(enumerate(current)))
    return result.initial, [
        {template_name(r): status for r, status in statuses.items()} for statuses in by_version
    ]


class _Measurement:
    def __init__(
        self,
        kubeconfig: Path,
        client: KubeClient,
        settings: ServiceSettings,
        resources: int,
        bursts: int,
        apiserver_pid: int | None,
        timeout_s: float,
        log_dir: Path,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.client = client
        self.settings = settings
        self.args = serve_args(settings)
        self.resources = resources
        self.bursts = bursts
        self.apiserver_pid = apiserver_pid
        self.timeout_s = timeout_s
        self.log_dir = log_dir
        self.namespace = f"replicas-{uuid.uuid4().hex[:6]}"
        self.expected: list[dict[str, Obj]] = []

    async def settle(self, group: _Group, version: int) -> None:
        """Until the templates show ``version``'s aggregate and every writer is done, then
        ``min_write_interval_s`` more: the queue spaces two reconciles of a key (a skip too)."""
        final = self.expected[version]
        deadline = time.monotonic() + self.timeout_s
        while wrong := await wrong_templates(self.client, self.namespace, final):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(wrong)} templates never showed version {version}")
            await asyncio.sleep(POLL_S)
        await wait_quiet(self.client)
        await group.wait_idle(self.timeout_s)
        await asyncio.sleep(self.settings.min_write_interval_s)

    async def burst(
        self, group: _Group, agents: _Agents, version: int, payloads: list[list[bytes]]
    ) -> BurstResult:
        final = self.expected[version]
        effective = sum(1 for n, s in final.items() if s != self.expected[version - 1][n])
        observer = StatusObserver(self.client, DEPLOYMENTS, self.namespace, final)
        await observer.start()
        try:
            counters = (FORWARDED, VIEW_CHANGES, FENCED)
            await wait_quiet(self.client)
            requests_before = await request_counts(self.client)
            shard_before = await group.totals(*counters)
            resyncs, retries = agents.resyncs, agents.retries
            cpu = (group.cpu_s(), process_cpu_s(self.apiserver_pid), time.process_time())
            started = time.monotonic()
            await agents.deliver(payloads, version)
            reached = await observer.wait_final(self.timeout_s)
            converged = (observer.converged_at() if reached else time.monotonic()) - started
            used = (
                [after - before for before, after in zip(cpu[0], group.cpu_s(), strict=True)],
                process_cpu_s(self.apiserver_pid) - cpu[1],
                time.process_time() - cpu[2],
            )
            await wait_quiet(self.client)
            requests = requests_between(requests_before, await request_counts(self.client))
            shard = await group.totals(*counters)
            wrong = await wrong_templates(self.client, self.namespace, final)
        finally:
            await observer.stop()
        return BurstResult(
            converge_s=max(0.0, converged),
            effective_changes=effective,
            status_writes=requests.status_writes,
            event_writes=requests.event_writes,
            conflicts=requests.conflicts,
            items_sent=self.resources * len(payloads),
            forwarded_items=round(shard[FORWARDED] - shard_before[FORWARDED]),
            view_changes=round(shard[VIEW_CHANGES] - shard_before[VIEW_CHANGES]),
            fenced=round(shard[FENCED] - shard_before[FENCED]),
            resyncs=agents.resyncs - resyncs,
            retries=agents.retries - retries,
            replicas_cpu_s=used[0],
            apiserver_cpu_s=used[1],
            bench_cpu_s=used[2],
            correct=reached and not wrong,
        )

    async def run(self, count: int, first_version: int) -> ReplicasRun:
        """``count`` replicas: start, settle on ``first_version``, then ``WARMUP`` bursts that
        are checked but not kept, then the measured bursts."""
        leases = f"bench-leases-{count}-{uuid.uuid4().hex[:6]}"
        await self.client.create(NAMESPACES, {"metadata": {"name": leases}})
        group = _Group(self.kubeconfig, count, leases, self.log_dir, self.args)
        started = time.monotonic()
        ready_s = 0.0
        bursts: list[BurstResult] = []
        error = ""
        group.start()
        try:
            await group.wait_ready(READY_TIMEOUT_S)
            agents = _Agents(self.namespace, self.resources, CLUSTERS, group.processes)
            async with agents.connected():
                await agents.sync_all(first_version)
                await self.settle(group, first_version)
                ready_s = time.monotonic() - started
                for index in range(WARMUP + self.bursts):
                    version = first_version + index + 1
                    result = await self.burst(group, agents, version, agents.payloads(version))
                    if index >= WARMUP:
                        bursts.append(result)
                    if not result.correct:
                        error = f"burst {index + 1}: templates did not show the expected status"
                        break
                    await self.settle(group, version)
        except (RuntimeError, TimeoutError, grpc.aio.AioRpcError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            await group.stop()
        return ReplicasRun(count, self.resources, self.bursts, ready_s, bursts, error)


async def measure_replicas(
    kubeconfig: Path,
    counts: Sequence[int],
    resources: int,
    bursts: int,
    settings: ServiceSettings,
    *,
    log_dir: Path,
    apiserver_pid: int | None = None,
    timeout_s: float = 120.0,
    done: Callable[[str], None] = lambda step: None,
) -> ReplicasResult:
    """Measure each replica count in ``counts`` in turn; replica logs go to ``log_dir``."""
    per_count = WARMUP + bursts
    versions = len(counts) * per_count
    if versions >= REPLICAS:
        raise ValueError(f"at most {REPLICAS - 1} bursts in all, asked for {versions}")
    await asyncio.to_thread(log_dir.mkdir, parents=True, exist_ok=True)
    started = time.monotonic()
    async with bench_client(kubeconfig) as client:
        measurement = _Measurement(
            kubeconfig, client, settings, resources, bursts, apiserver_pid, timeout_s, log_dir
        )
        initial, measurement.expected = expected_statuses(resources, CLUSTERS, versions)
        await create_templates(client, measurement.namespace, resources, initial)
        runs = []
        for index, count in enumerate(counts):
            runs.append(await measurement.run(count, index * per_count))
            done(f"replicas/{count}")
        await remove_objects(client, measurement.namespace)
    return ReplicasResult(
        resources=resources,
        clusters=CLUSTERS,
        bursts=bursts,
        serve_args=measurement.args,
        runs=runs,
        elapsed_s=time.monotonic() - started,
    )
