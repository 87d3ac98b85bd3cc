"""A micro-benchmark of the ingest hot path: one service in this process, one local API server.

``python -m aggregator.bench.hotpath [--items N] [--repeat R] [--writes W] [--members M]
[--bare-puts P]`` prints, per repetition, the rate of unchanged reports
(answered), the rate of changed reports up to the end of the queue drain (no templates, so
nothing is written), the CPU time per report of each, and the RSS per stored item; then the CPU
time of this process per status write, over W templates whose statuses change once (reports
from 4 clusters, the drain of the writes and the watch events they cause); then, the service
stopped, the CPU time per ``PUT /status`` of a bare client doing nothing else (the floor of a
status write); then the time of one aggregation of a Deployment's status from M members
(building the items from the stored ones, the interpreter, normalising the result). Run it
under a sampling profiler (``py-spy record -- python -m aggregator.bench.hotpath``) to see
where the time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import time
import timeit
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from aggregator.bench.ingest import CLUSTERS, IN_FLIGHT, NAMESPACE, _rss_bytes
from aggregator.bench.scenarios import Report, cluster_name, member_status
from aggregator.bench.strategies.base import bench_client, wait_idle
from aggregator.bench.strategies.statusagg import MAX_MESSAGE_BYTES, REPORT_METHOD, report_payloads
from aggregator.devcluster import LocalAPIServer, sample_deployment
from aggregator.kube.resources import DEPLOYMENTS, NAMESPACES
from aggregator.model import Health, MemberItem, ResourceKey
from aggregator.normalize import normalize
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings
from aggregator.store import Quotas
from interpreters import build_registry

WRITES_NAMESPACE = "hotpath-writes"
PUTS_NAMESPACE = "hotpath-puts"
IN_FLIGHT_PUTS = 32


async def _cpu_per_write(
    svc: RunningService, send_all: Callable[[list[bytes]], Awaitable[None]], templates: int
) -> float:
    """CPU microseconds of this process per status write, for ``templates`` changed statuses."""
    client = svc.service.client
    await client.create(NAMESPACES, {"metadata": {"name": WRITES_NAMESPACE}})
    gate = asyncio.Semaphore(32)

    async def create(index: int) -> None:
        async with gate:
            await client.create(DEPLOYMENTS, sample_deployment(f"r-{index:05d}", WRITES_NAMESPACE))

    await asyncio.gather(*(create(i) for i in range(templates)))
    batches = [[Report(r, c, 1) for r in range(templates)] for c in range(CLUSTERS)]
    written = svc.service.metrics.writes.labels(mode="update", result="ok")
    before = written._value.get()
    cpu = time.process_time()
    await send_all(report_payloads(WRITES_NAMESPACE, batches, 1))
    await wait_idle(svc.service.queue)
    writes = float(written._value.get() - before)
    return (time.process_time() - cpu) * 1e6 / max(1.0, writes)


async def _measure(
    kubeconfig: Path, items: int, repeat: int, writes: int
) -> list[dict[str, float]]:
    resources = items // CLUSTERS

    def payloads(version: int, sequence: int) -> list[bytes]:
        batches = [[Report(r, c, version) for r in range(resources)] for c in range(CLUSTERS)]
        return report_payloads(NAMESPACE, batches, sequence)

    options = ServeOptions(
        kubeconfig=kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        qps=0,
        reflection=False,
        max_message_bytes=MAX_MESSAGE_BYTES,
        # every item stored: a cluster's default quota (20,000 items) would refuse some
        settings=ServiceSettings(quotas=Quotas(max_items=items + writes)),
    )
    results: list[dict[str, float]] = []
    async with (
        running(options) as svc,
        grpc.aio.insecure_channel(
            svc.address, options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        ) as channel,
    ):
        call = channel.unary_unary(REPORT_METHOD, None, None)
        gate = asyncio.Semaphore(IN_FLIGHT)

        async def send_one(payload: bytes) -> None:
            async with gate:
                await call(payload)

        async def send(batch: list[bytes], drain: bool) -> tuple[float, float]:
            """Reports per second, and CPU microseconds per report (this whole process)."""
            started, cpu = time.monotonic(), time.process_time()
            await asyncio.gather(*(send_one(p) for p in batch))
            if drain:
                await wait_idle(svc.service.queue)
            sent = resources * CLUSTERS
            return sent / (time.monotonic() - started), (time.process_time() - cpu) * 1e6 / sent

        await svc.service.caches.resolve("apps/v1", "Deployment")
        # every request is encoded before the first is sent: RSS then grows by the store alone
        first = payloads(1, 1)
        rounds = [
            (payloads(version - 1, 2 * version - 2), payloads(version, 2 * version - 1))
            for version in range(2, repeat + 2)
        ]
        gc.collect()
        rss_before = _rss_bytes()
        await send(first, drain=True)
        del first
        gc.collect()
        rss_per_item = (_rss_bytes() - rss_before) / max(1, len(svc.service.store))
        for unchanged, changed in rounds:
            unchanged_rate, unchanged_cpu = await send(unchanged, drain=False)
            changed_rate, changed_cpu = await send(changed, drain=True)
            results.append(
                {
                    "unchanged_per_s": round(unchanged_rate),
                    "unchanged_cpu_us": round(unchanged_cpu, 1),
                    "changed_to_drain_per_s": round(changed_rate),
                    "changed_cpu_us": round(changed_cpu, 1),
                    "rss_bytes_per_item": round(rss_per_item),
                }
            )
        if writes:

            async def send_all(batch: list[bytes]) -> None:
                await asyncio.gather(*(send_one(p) for p in batch))

            cpu_us = await _cpu_per_write(svc, send_all, writes)
            results.append({"cpu_us_per_status_write": round(cpu_us)})
    return results


async def _cpu_per_bare_put(kubeconfig: Path, puts: int, templates: int = 64) -> float:
    """CPU microseconds of this process per ``PUT /status`` of a client that does nothing else
    (the service stopped), ``IN_FLIGHT_PUTS`` in flight: the floor of a status write."""
    async with bench_client(kubeconfig) as client:
        await client.create(NAMESPACES, {"metadata": {"name": PUTS_NAMESPACE}})
        objects = [
            await client.create(DEPLOYMENTS, sample_deployment(f"r-{i:05d}", PUTS_NAMESPACE))
            for i in range(templates)
        ]
        gate = asyncio.Semaphore(IN_FLIGHT_PUTS)

        async def put(index: int) -> None:
            async with gate:
                obj = objects[index % templates]
                meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
                status = {"replicas": index + 1, "readyReplicas": 1}  # unconditional: no 409s
                changed = {**obj, "metadata": meta, "status": status}
                await client.replace_status(DEPLOYMENTS, changed)

        cpu = time.process_time()
        await asyncio.gather(*(put(i) for i in range(puts)))
        return (time.process_time() - cpu) * 1e6 / puts


def _aggregation_us(members: int, repeat: int = 5, number: int = 500) -> float:
    """Microseconds per aggregation of a Deployment from ``members`` stored items (best of
    ``repeat``)."""
    registry = build_registry(load_plugins=False)
    template = sample_deployment("r-00000", NAMESPACE)
    template["status"] = member_status(1)
    key = ResourceKey("apps/v1", "Deployment", NAMESPACE, "r-00000")
    stored = [
        MemberItem(cluster_name(c), key, member_status(c % 100), True, "", Health.HEALTHY, 1, 1, 1)
        for c in range(members)
    ]

    def aggregate() -> None:
        items = [item.aggregated_status_item() for item in stored]
        normalize(registry.aggregate(template, items)["status"])

    return min(timeit.repeat(aggregate, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--writes", type=int, default=1000)
    parser.add_argument("--members", type=int, default=50)
    parser.add_argument("--bare-puts", type=int, default=2000)
    args = parser.parse_args()
    with LocalAPIServer() as server:
        measured = _measure(server.kubeconfig, args.items, args.repeat, args.writes)
        for row in asyncio.run(measured):
            print(json.dumps(row))
        if args.bare_puts:
            bare = _cpu_per_bare_put(server.kubeconfig, args.bare_puts)
            per_put = asyncio.run(bare)
            print(json.dumps({"bare_put_cpu_us": round(per_put)}))
    if args.members:
        per_aggregation = _aggregation_us(args.members)
        print(json.dumps({f"aggregation_us_{args.members}_members": round(per_aggregation, 1)}))


if __name__ == "__main__":
    main()
