"""Follow the service's agent configuration: kinds to watch, customizations to reflect and judge
member objects with, and interpreter webhooks to call for that, polled with GetAgentConfig."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.client import StatusClient
from aggregator.webhooks.config import ConfigurationError, Webhook, parse_configuration
from interpreters import CustomizationLoadError, Target
from interpreters.lua import Document, parse_object

log = logging.getLogger(__name__)

ORIGIN = "the service"


@dataclass(frozen=True)
class ServiceConfig:
    """What the service hands out, loaded: what it does not load is left out."""

    kinds: set[Target]
    documents: list[Document]
    webhooks: list[Webhook]


Apply = Callable[[ServiceConfig], Awaitable[None]]


def documents_of(config: pb.AgentConfig) -> list[Document]:
    """The customizations of ``config``; one that does not load is left out with a warning."""
    documents = []
    for blob in config.customizations_json:
        try:
            documents.append(parse_object(json.loads(blob), ORIGIN))
        except (CustomizationLoadError, ValueError) as exc:
            log.warning("a customization from the service does not load: %s", exc)
    return documents


def webhooks_of(config: pb.AgentConfig) -> list[Webhook]:
    """The webhooks of ``config``'s configurations; a configuration that does not load is left
    out with a warning."""
    webhooks = []
    for blob in config.webhooks_json:
        try:
            obj = json.loads(blob)
            if not isinstance(obj, dict):
                raise ConfigurationError("not a JSON object")
            webhooks += parse_configuration(obj)
        except (ConfigurationError, ValueError) as exc:
            log.warning("a webhook configuration from the service does not load: %s", exc)
    return webhooks


class ConfigFollower:
    """Polls the service; hands each new revision to ``apply`` (which may be retried)."""

    def __init__(
        self,
        client: StatusClient,
        apply: Apply,
        *,
        interval_s: float,
    ) -> None:
        self._client = client
        self._apply = apply
        self._interval_s = interval_s
        self.revision = ""
        self._loaded = ServiceConfig(set(), [], [])

    async def run(self) -> None:
        while True:
            try:
                config = await self._client.get_agent_config(max(self._interval_s, 5.0))
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                    log.info("the service does not serve agent configuration: using flags only")
                    return
                log.debug("GetAgentConfig failed: %s", exc.details())
            else:
                await self._use(config)
            await asyncio.sleep(self._interval_s)

    async def _use(self, config: pb.AgentConfig) -> None:
        if config.revision != self.revision:
            self._loaded = ServiceConfig(
                {(kind.api_version, kind.kind) for kind in config.kinds},
                documents_of(config),
                webhooks_of(config),
            )
        # every round: kinds the member cluster did not serve yet are tried again
        await self._apply(self._loaded)
        if config.revision != self.revision:
            log.info(
                "agent configuration %s from the service: %d kinds, %d customizations, "
                "%d webhook configurations",
                config.revision,
                len(self._loaded.kinds),
                len(config.customizations_json),
                len(config.webhooks_json),
            )
            self.revision = config.revision
