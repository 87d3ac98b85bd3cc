"""Ingest throughput and memory of the service alone, the service in its own process and the
client (the agents) in the bench process.

The service runs at its defaults, with its workers and watch cache but without templates, so no
report leads to a write. After a first load of ``items`` items (its RSS growth per stored item is
the memory figure), each batch size is measured twice: the same items again (unchanged content,
newer sequence) and then with a new status (changed); each from the first ``Report`` sent until
the service's work queue has drained what the reports enqueued. Requests are encoded beforehand
and sent ``IN_FLIGHT`` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import resource
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.bench.host import pin
from aggregator.bench.scenarios import Report
from aggregator.bench.strategies.base import wait_idle
from aggregator.bench.strategies.statusagg import MAX_MESSAGE_BYTES, REPORT_METHOD, member_items
from aggregator.serve import ServeOptions, running
from aggregator.service import ServiceSettings

CLUSTERS = 4
IN_FLIGHT = 4
NAMESPACE = "ingest"
BATCH_SIZES = (1, 10, 100, 1000)
MAX_REQUESTS = 2_000  # per measurement: a batch size of 1 sends at most this many items
LOAD_BATCH = 1000


@dataclass(frozen=True)
class BatchResult:
    batch: int
    items: int
    unchanged_per_s: float
    changed_per_s: float  # to the end of the queue drain
    unchanged_cpu_s: float  # the service's
    changed_cpu_s: float


@dataclass(frozen=True)
class IngestResult:
    items: int  # stored after the first load
    rss_bytes_per_item: float
    batches: list[BatchResult]

    def at(self, batch: int) -> BatchResult | None:
        return next((b for b in self.batches if b.batch == batch), None)


def _rss_bytes() -> int:
    """Resident set size now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def _service(conn: Connection, kubeconfig: str, settings: ServiceSettings) -> None:
    options = ServeOptions(
        kubeconfig=Path(kubeconfig),
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        reflection=False,
        max_message_bytes=MAX_MESSAGE_BYTES,
        settings=settings,
    )
    async with running(options) as svc:
        await svc.service.caches.resolve("apps/v1", "Deployment")
        gc.collect()
        conn.send((svc.address, _rss_bytes()))
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command == "exit":
                return
            if command == "cpu":
                conn.send(time.process_time())
            elif command == "drain":
                await wait_idle(svc.service.queue)
                conn.send((time.monotonic(), time.process_time()))
            elif command == "rss":
                gc.collect()
                conn.send((_rss_bytes(), len(svc.service.store)))


def _service_main(conn: Connection, kubeconfig: str, settings: ServiceSettings, core: Any) -> None:
    pin(core)
    asyncio.run(_service(conn, kubeconfig, settings))


class _Remote:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    async def ask(self, command: str) -> Any:
        self.conn.send(command)
        return await asyncio.to_thread(self.conn.recv)


def _payloads(reports: list[Report], batch: int, sequence: int) -> list[bytes]:
    return [
        pb.ReportRequest(
            items=member_items(NAMESPACE, reports[start : start + batch], sequence)
        ).SerializeToString()
        for start in range(0, len(reports), batch)
    ]


async def _send(call: Any, payloads: list[bytes]) -> None:
    gate = asyncio.Semaphore(IN_FLIGHT)

    async def one(payload: bytes) -> None:
        async with gate:
            await call(payload)

    await asyncio.gather(*(one(p) for p in payloads))


async def measure_ingest(
    kubeconfig: Path,
    items: int,
    settings: ServiceSettings,
    *,
    batch_sizes: tuple[int, ...] = BATCH_SIZES,
    core: int | None = None,
) -> IngestResult:
    """Start the service in a fresh interpreter (pinned to ``core``), load it, sweep the batch
    sizes; the client is this process."""
    resources = max(1, items // CLUSTERS)
    reports = [Report(r, c, 1) for c in range(CLUSTERS) for r in range(resources)]
    context = multiprocessing.get_context("spawn")
    conn, child = context.Pipe()
    process = context.Process(
        target=_service_main, args=(child, str(kubeconfig), settings, core), name="bench ingest"
    )
    process.start()
    child.close()
    remote = _Remote(conn)
    try:
        address, rss_before = await asyncio.to_thread(conn.recv)
        async with grpc.aio.insecure_channel(
            address, options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES)]
        ) as channel:
            call = channel.unary_unary(REPORT_METHOD, None, None)
            await _send(call, _payloads(reports, LOAD_BATCH, 1))
            await remote.ask("drain")
            rss_after, stored = await remote.ask("rss")
            versions = [1] * len(reports)
            sequence = 2
            results = []
            for batch in batch_sizes:
                count = min(len(reports), batch * MAX_REQUESTS)
                timings = []
                for bump in (0, 1):
                    chosen = [
                        Report(r.resource, r.cluster, versions[i] + bump)
                        for i, r in enumerate(reports[:count])
                    ]
                    payloads = _payloads(chosen, batch, sequence)
                    sequence += 1
                    await asyncio.sleep(settings.min_write_interval_s)
                    cpu = await remote.ask("cpu")
                    started = time.monotonic()
                    await _send(call, payloads)
                    idle_at, cpu_after = await remote.ask("drain")
                    timings.append((max(1e-6, idle_at - started), cpu_after - cpu))
                versions[:count] = [v + 1 for v in versions[:count]]
                (same_s, same_cpu), (changed_s, changed_cpu) = timings
                results.append(
                    BatchResult(
                        batch,
                        count,
                        count / same_s,
                        count / changed_s,
                        same_cpu,
                        changed_cpu,
                    )
                )
    finally:
        with contextlib.suppress(OSError):
            conn.send("exit")
        await asyncio.to_thread(process.join, 30)
        if process.is_alive():
            process.kill()
        conn.close()
    return IngestResult(stored, (rss_after - rss_before) / max(1, stored), results)
