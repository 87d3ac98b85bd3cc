"""One-shot calls to the service: Report, chunked Sync, heartbeat and GetAggregate, split into
messages by count and bytes, transient failures retried with exponential backoff."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.client.batching import MESSAGE_OVERHEAD, batches, encoded_size
from aggregator.client.connection import token_metadata

T = TypeVar("T")
log = logging.getLogger(__name__)

# codes worth another attempt: the service (or the connection to it) is away for a moment, or
# a newer Sync of the cluster superseded this one
RETRIED_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
)


@dataclass(frozen=True)
class Limits:
    """How calls are split and retried.

    ``max_bytes`` stays under the service's ``--max-message-bytes`` (16 MiB by default) and
    gRPC's usual 4 MiB, so any deployment takes the messages."""

    max_items: int = 500
    max_bytes: int = 4 * 1024 * 1024
    attempts: int = 5  # per call, for the codes in RETRIED_CODES
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 10.0
    timeout_s: float = 60.0  # per message; a chunked Sync gets it per chunk


@dataclass(frozen=True)
class Answer:
    """The service's epoch and one result per item, in order."""

    epoch: str
    results: list[pb.ItemResult]


def _retried(error: BaseException) -> bool:
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in RETRIED_CODES


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    if isinstance(error, grpc.aio.AioRpcError):
        log.warning(
            "call to the service failed (%s: %s); retrying in %.1fs",
            error.code().name,
            error.details(),
            wait,
        )


class StatusClient:
    """Calls StatusAggregator over ``channel``, with ``token`` as the bearer token if set.

    ``epoch`` is the service epoch of the last answer: when it changes, the service lost what it
    held, and the cluster must be sent again with ``sync``. ``on_failure``, if set, is called
    with every failed attempt, retried or not (a ``Reporter`` counts them in its metrics)."""

    def __init__(
        self,
        stub: pb_grpc.StatusAggregatorAsyncStub,
        *,
        metadata: tuple[tuple[str, str], ...] = (),
        limits: Limits | None = None,
    ) -> None:
        self._stub = stub
        self._metadata = metadata
        self.limits = limits or Limits()
        self.epoch = ""
        self.on_failure: Callable[[grpc.aio.AioRpcError], None] | None = None

    @classmethod
    def over(
        cls, channel: grpc.aio.Channel, *, token: str = "", limits: Limits | None = None
    ) -> StatusClient:
        """A client on ``channel`` (see ``open_channel``)."""
        return cls(
            pb_grpc.StatusAggregatorStub(channel), metadata=token_metadata(token), limits=limits
        )

    async def _retrying(self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            retry=retry_if_exception(_retried),
            stop=stop_after_attempt(self.limits.attempts),
            wait=wait_exponential_jitter(
                multiplier=self.limits.initial_backoff_s,
                max=self.limits.max_backoff_s,
                jitter=self.limits.initial_backoff_s,
            ),
            before_sleep=_log_retry,
            reraise=True,
        )

        async def attempt() -> T:
            try:
                return await call()
            except grpc.aio.AioRpcError as exc:
                if self.on_failure is not None:
                    self.on_failure(exc)
                raise

        return await retrying(attempt)

    def _observe(self, reply: pb.ReportResponse) -> pb.ReportResponse:
        self.epoch = reply.epoch
        return reply

    async def report(self, items: Sequence[pb.MemberStatus]) -> Answer:
        """Report ``items`` (updates and removals) in as many messages as the limits need."""
        results: list[pb.ItemResult] = []
        for batch in batches(items, self.limits.max_items, self.limits.max_bytes):
            request = pb.ReportRequest(items=batch)
            reply = await self._retrying(
                lambda request=request: self._stub.Report(  # type: ignore[misc]
                    request, metadata=self._metadata, timeout=self.limits.timeout_s
                )
            )
            results.extend(self._observe(reply).results)
        return Answer(self.epoch, results)

    async def heartbeat(self) -> str:
        """An empty Report: the service's epoch, which tells whether it restarted."""
        reply = await self._retrying(
            lambda: self._stub.Report(
                pb.ReportRequest(), metadata=self._metadata, timeout=self.limits.timeout_s
            )
        )
        return self._observe(reply).epoch

    def _chunks(self, cluster: str, items: Sequence[pb.MemberStatus]) -> Iterator[pb.SyncChunk]:
        chunks = batches(items, self.limits.max_items, self.limits.max_bytes)
        current = next(chunks, [])
        first = True
        while True:
            following = next(chunks, None)
            chunk = pb.SyncChunk(items=current, last=following is None)
            if first:
                chunk.cluster, first = cluster, False
            yield chunk
            if following is None:
                return
            current = following

    async def sync(self, cluster: str, items: Sequence[pb.MemberStatus]) -> Answer:
        """Make ``items`` the complete state of ``cluster``: the service drops what it holds of
        the cluster beyond them.

        Items that fit ``max_bytes`` together go in one Sync message; more are sent as a
        chunked Sync (SyncChunks, chunks bounded by ``max_items`` and ``max_bytes``), which the
        service applies only once the last chunk arrived. A service without SyncChunks gets
        one Sync message."""
        size = MESSAGE_OVERHEAD + sum(encoded_size(item) for item in items)
        chunk_count = sum(1 for _ in batches(items, self.limits.max_items, self.limits.max_bytes))
        timeout = self.limits.timeout_s * max(chunk_count, 1)

        async def chunked() -> pb.ReportResponse:
            return await self._stub.SyncChunks(
                self._chunks(cluster, items), metadata=self._metadata, timeout=timeout
            )

        async def whole() -> pb.ReportResponse:
            request = pb.SyncRequest(cluster=cluster, items=items)
            return await self._stub.Sync(request, metadata=self._metadata, timeout=timeout)

        if size <= self.limits.max_bytes:
            reply = await self._retrying(whole)
            return Answer(self._observe(reply).epoch, list(reply.results))
        try:
            reply = await self._retrying(chunked)
        except grpc.aio.AioRpcError as exc:
            if exc.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            reply = await self._retrying(whole)
        return Answer(self._observe(reply).epoch, list(reply.results))

    async def get_agent_config(self, timeout_s: float) -> pb.AgentConfig:
        """The kinds and customizations the service tells agents to use (one attempt)."""
        return await self._stub.GetAgentConfig(
            pb.GetAgentConfigRequest(), metadata=self._metadata, timeout=timeout_s
        )

    async def get_aggregate(self, resource: pb.ResourceRef) -> pb.GetAggregateResponse:
        """What the service holds for ``resource`` (NOT_FOUND if no member reported it)."""
        return await self._retrying(
            lambda: self._stub.GetAggregate(
                pb.GetAggregateRequest(resource=resource),
                metadata=self._metadata,
                timeout=self.limits.timeout_s,
            )
        )
