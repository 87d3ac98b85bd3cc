"""The service itself, driven through its gRPC API like a fleet of agents, with the variant's
settings (its defaults, or tuned) and client limit.

Each wave is one ``Report`` RPC per member cluster (split every ``BATCH`` items), sent
concurrently. The requests are encoded during set-up, so a run measures the service, not the
encoding of its input.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Sequence

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.bench.scenarios import (
    API_VERSION,
    KIND,
    REPLICAS,
    Report,
    cluster_name,
    member_status,
    template_name,
)
from aggregator.bench.strategies.base import RunContext, Strategy, wait_idle
from aggregator.bench.variants import Variant
from aggregator.serve import RunningService, ServeOptions, running
from aggregator.service import ServiceSettings

REPORT_METHOD = "/statusagg.v1.StatusAggregator/Report"
BATCH = 1000
MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@functools.cache
def _status_json(version: int) -> bytes:
    return json.dumps(member_status(version)).encode()


def member_items(namespace: str, reports: Sequence[Report], sequence: int) -> list[pb.MemberStatus]:
    """The items an agent sends for ``reports``, all stamped with ``sequence``."""
    return [
        pb.MemberStatus(
            cluster=cluster_name(report.cluster),
            resource=pb.ResourceRef(
                api_version=API_VERSION,
                kind=KIND,
                namespace=namespace,
                name=template_name(report.resource),
            ),
            status_json=_status_json(report.version),
            applied=True,
            health=pb.HEALTH_HEALTHY if report.version == REPLICAS else pb.HEALTH_UNHEALTHY,
            generation=1,
            observed_generation=1,
            template_generation=1,
            sequence=sequence,
        )
        for report in reports
    ]


def report_payloads(
    namespace: str, batches: Sequence[Sequence[Report]], sequence: int
) -> list[bytes]:
    """Encoded ``ReportRequest`` messages: one per cluster batch, split every ``BATCH`` items."""
    return [
        pb.ReportRequest(
            items=member_items(namespace, batch[start : start + BATCH], sequence)
        ).SerializeToString()
        for batch in batches
        for start in range(0, len(batch), BATCH)
    ]


class StatusaggStrategy(Strategy):
    name = "statusagg"

    def __init__(self, variant: Variant) -> None:
        super().__init__(variant)
        if variant.service is None:
            raise ValueError(f"{variant.name}: no service settings")
        self.settings: ServiceSettings = variant.service

    async def start(self, ctx: RunContext) -> None:
        await super().start(ctx)
        self._stack = contextlib.AsyncExitStack()
        options = ServeOptions(
            kubeconfig=ctx.kubeconfig,
            listen="127.0.0.1:0",
            metrics_listen="127.0.0.1:0",
            load_plugins=False,
            qps=self.variant.qps,
            burst=self.variant.burst,
            reflection=False,
            max_message_bytes=MAX_MESSAGE_BYTES,
            settings=self.settings,
        )
        self.svc: RunningService = await self._stack.enter_async_context(running(options))
        await self.svc.service.caches.resolve(API_VERSION, KIND)
        channel = await self._stack.enter_async_context(
            grpc.aio.insecure_channel(
                self.svc.address,
                options=[("grpc.max_send_message_length", MAX_MESSAGE_BYTES)],
            )
        )
        self._report = channel.unary_unary(REPORT_METHOD, None, None)
        waves = ctx.scenario.waves
        self._payloads = [
            report_payloads(ctx.namespace, wave.by_cluster(), index + 2)
            for index, wave in enumerate(waves)
        ]

    async def preload(self, batches: Sequence[Sequence[Report]]) -> None:
        """Report the starting items, then stay idle for ``min_write_interval_s`` as a settled
        service would be: the work queue spaces any two reconciles of a key (a skip too) by
        that interval, and the run must not start inside it."""
        await self._send(report_payloads(self.ctx.namespace, batches, 1))
        await self.drain()
        await asyncio.sleep(self.settings.min_write_interval_s)

    async def deliver(self, wave: int, batches: Sequence[Sequence[Report]]) -> None:
        await self._send(self._payloads[wave])

    async def _send(self, payloads: list[bytes]) -> None:
        replies = await asyncio.gather(*(self._report(p) for p in payloads))
        for raw in replies:
            for result in pb.ReportResponse.FromString(raw).results:
                if result.outcome != pb.ItemResult.OUTCOME_ACCEPTED:
                    raise RuntimeError(f"the service did not accept a report: {result.reason}")

    async def drain(self) -> None:
        await wait_idle(self.svc.service.queue)

    async def stop(self) -> None:
        await self._stack.aclose()
