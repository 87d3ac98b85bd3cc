"""Ingest throughput and memory of the service alone, measured in a child process so that its
RSS belongs to the service and not to the rest of the benchmark.

The service runs with its workers and watch cache but without templates, so no report leads to
a write: what is measured is ``Report`` (decode, validate, store, enqueue, answer) on batches of
``BATCH`` items, sent four at a time from pre-encoded requests.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc

from aggregator.bench.scenarios import Report
from aggregator.bench.strategies.base import wait_idle
from aggregator.bench.strategies.statusagg import MAX_MESSAGE_BYTES, REPORT_METHOD, report_payloads
from aggregator.serve import ServeOptions, running
from aggregator.service import ServiceSettings

CLUSTERS = 4
IN_FLIGHT = 4
NAMESPACE = "ingest"


@dataclass(frozen=True)
class IngestResult:
    items: int
    reports_per_s_unchanged: float
    reports_per_s_changed: float
    cpu_s_unchanged: float
    cpu_s_changed: float
    rss_bytes_per_item: float


def _rss_bytes() -> int:
    """Resident set size now (Linux), else the peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


async def _measure(kubeconfig: Path, items: int, settings: ServiceSettings) -> IngestResult:
    resources = items // CLUSTERS

    def payloads(version: int, sequence: int) -> list[bytes]:
        batches = [[Report(r, c, version) for r in range(resources)] for c in range(CLUSTERS)]
        return report_payloads(NAMESPACE, batches, sequence)

    first, again, changed = payloads(1, 1), payloads(1, 2), payloads(2, 3)
    options = ServeOptions(
        kubeconfig=kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        qps=0,
        reflection=False,
        max_message_bytes=MAX_MESSAGE_BYTES,
        settings=settings,
    )
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

        async def send(batch: list[bytes]) -> tuple[float, float]:
            started, cpu = time.monotonic(), time.process_time()
            await asyncio.gather(*(send_one(p) for p in batch))
            return time.monotonic() - started, time.process_time() - cpu

        await svc.service.caches.resolve("apps/v1", "Deployment")
        gc.collect()
        rss_before = _rss_bytes()
        await send(first)
        await wait_idle(svc.service.queue)
        gc.collect()
        rss_after = _rss_bytes()
        stored = len(svc.service.store)
        unchanged_s, unchanged_cpu = await send(again)
        changed_s, changed_cpu = await send(changed)
        await wait_idle(svc.service.queue)
    sent = resources * CLUSTERS
    return IngestResult(
        items=stored,
        reports_per_s_unchanged=sent / unchanged_s,
        reports_per_s_changed=sent / changed_s,
        cpu_s_unchanged=unchanged_cpu,
        cpu_s_changed=changed_cpu,
        rss_bytes_per_item=(rss_after - rss_before) / max(1, stored),
    )


def _child(kubeconfig: str, items: int, settings: ServiceSettings) -> IngestResult:
    return asyncio.run(_measure(Path(kubeconfig), items, settings))


async def measure_ingest(kubeconfig: Path, items: int, settings: ServiceSettings) -> IngestResult:
    """Run the measurement in a fresh interpreter and return what it found."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        return await asyncio.get_running_loop().run_in_executor(
            pool, _child, str(kubeconfig), items, settings
        )
