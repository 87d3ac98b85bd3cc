"""Follow the service's agent configuration: kinds to watch and customizations to reflect and
judge member objects with, polled with GetAgentConfig."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from interpreters import CustomizationLoadError, Target
from interpreters.lua import Document, parse_object

log = logging.getLogger(__name__)

ORIGIN = "the service"

Apply = Callable[[set[Target], list[Document]], Awaitable[None]]


def documents_of(config: pb.AgentConfig) -> list[Document]:
    """The customizations of ``config``; one that does not load is left out with a warning."""
    documents = []
    for blob in config.customizations_json:
        try:
            documents.append(parse_object(json.loads(blob), ORIGIN))
        except (CustomizationLoadError, ValueError) as exc:
            log.warning("a customization from the service does not load: %s", exc)
    return documents


class ConfigFollower:
    """Polls the service; hands each new revision to ``apply`` (which may be retried)."""

    def __init__(
        self,
        stub: pb_grpc.StatusAggregatorAsyncStub,
        apply: Apply,
        *,
        interval_s: float,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        self._stub = stub
        self._apply = apply
        self._interval_s = interval_s
        self._metadata = tuple(metadata)
        self.revision = ""
        self._documents: list[Document] = []
        self.applied = asyncio.Event()  # set after each revision reached the agent

    async def run(self) -> None:
        while True:
            try:
                config = await self._stub.GetAgentConfig(
                    pb.GetAgentConfigRequest(),
                    metadata=self._metadata,
                    timeout=max(self._interval_s, 5.0),
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    log.info("the service does not serve agent configuration: using flags only")
                    return
                log.debug("GetAgentConfig failed: %s", exc.details())
            else:
                await self._use(config)
            await asyncio.sleep(self._interval_s)

    async def _use(self, config: pb.AgentConfig) -> None:
        kinds = {(kind.api_version, kind.kind) for kind in config.kinds}
        if config.revision != self.revision:
            self._documents = documents_of(config)
        # every round: kinds the member cluster did not serve yet are tried again
        await self._apply(kinds, self._documents)
        if config.revision != self.revision:
            log.info(
                "agent configuration %s from the service: %d kinds, %d customizations",
                config.revision,
                len(kinds),
                len(config.customizations_json),
            )
            self.revision = config.revision
            self.applied.set()
