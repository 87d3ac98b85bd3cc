"""Run an agent: member watch caches -> reflect/health -> batched reports to the service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from aggregator.agent.config import ConfigFollower
from aggregator.agent.items import member_item, removal_item
from aggregator.agent.reporter import AgentMetrics, Reporter
from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.httpserver import start_http
from aggregator.kube.client import KubeClient, NotFound, Obj
from aggregator.kube.config import load_cluster_access
from aggregator.kube.watchcache import ObjectKey, WatchCache, object_key
from interpreters import (
    CustomizationLoadError,
    InterpreterError,
    LuaSettings,
    Registry,
    Target,
    build_registry,
)
from interpreters.lua import Document, merge_documents

log = logging.getLogger(__name__)

PROPAGATED_ANNOTATION = "work.karmada.io/name"


@dataclass(frozen=True)
class AgentTLS:
    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        ca, key, cert = (p.read_bytes() if p else None for p in (self.ca, self.key, self.cert))
        return grpc.ssl_channel_credentials(ca, key, cert)


@dataclass
class AgentOptions:
    cluster: str
    server: str
    kinds: Sequence[tuple[str, str]]  # (apiVersion, kind)
    kubeconfig: Path | None = None
    selector: str = ""
    require_annotation: str = PROPAGATED_ANNOTATION
    tls: AgentTLS | None = None  # None: plaintext
    token: str = ""
    metrics_listen: str = "127.0.0.1:9091"
    customizations: Sequence[Path] = ()
    load_plugins: bool = True
    lua: LuaSettings = field(default_factory=LuaSettings)
    batch_size: int = 500
    heartbeat_s: float = 5.0
    # also watch the kinds of the service's customizations and reflect with them
    kinds_from_service: bool = True
    config_interval_s: float = 10.0


def parse_kind(spec: str) -> tuple[str, str]:
    """``apps/v1/Deployment`` -> (``apps/v1``, ``Deployment``); ``v1/Service`` -> (``v1``, ...)."""
    api_version, _, kind = spec.rpartition("/")
    if not api_version or not kind:
        raise ValueError(f"kind {spec!r} must look like apps/v1/Deployment or v1/Service")
    return api_version, kind


class Agent:
    """Keeps one watch cache per kind and feeds the reporter with changed items."""

    def __init__(
        self,
        options: AgentOptions,
        client: KubeClient,
        registry: Registry,
        reporter_stub: pb_grpc.StatusAggregatorAsyncStub,
    ) -> None:
        self.options = options
        self.client = client
        self.registry = registry
        self.metrics = AgentMetrics()
        self._caches: dict[Target, WatchCache] = {}
        self._file_documents = list(registry.documents)
        self._service_documents: list[Document] = []
        metadata = (("authorization", f"Bearer {options.token}"),) if options.token else ()
        self.config = ConfigFollower(
            reporter_stub, self.use, interval_s=options.config_interval_s, metadata=metadata
        )
        self.reporter = Reporter(
            reporter_stub,
            options.cluster,
            self.snapshot,
            self.metrics,
            batch_size=options.batch_size,
            heartbeat_s=options.heartbeat_s,
            metadata=metadata,
        )

    def _tracked(self, obj: Obj) -> bool:
        wanted = self.options.require_annotation
        return not wanted or wanted in (obj["metadata"].get("annotations") or {})

    def _item(self, api_version: str, kind: str, obj: Obj) -> pb.MemberStatus | None:
        try:
            return member_item(self.options.cluster, api_version, kind, obj, self.registry)
        except InterpreterError as exc:
            log.warning("reflecting %s %s failed: %s", kind, obj["metadata"].get("name"), exc)
            return None

    def snapshot(self) -> list[pb.MemberStatus]:
        """Items for every tracked object now (for Sync)."""
        items = []
        for (api_version, kind), cache in self._caches.items():
            for obj in cache.objects():
                if self._tracked(obj):
                    item = self._item(api_version, kind, obj)
                    if item is not None:
                        items.append(item)
        return items

    def _handler(self, api_version: str, kind: str):  # type: ignore[no-untyped-def]
        def changed(key: ObjectKey, obj: Obj | None) -> None:
            namespace, name = key
            if obj is None or not self._tracked(obj):
                self.reporter.offer(
                    removal_item(self.options.cluster, api_version, kind, namespace, name)
                )
                return
            item = self._item(api_version, kind, obj)
            if item is not None:
                self.reporter.offer(item)

        return changed

    @property
    def watched(self) -> set[Target]:
        """The kinds watched now."""
        return set(self._caches)

    async def start(self) -> None:
        for target in self.options.kinds:
            await self._watch(target)

    async def _watch(self, target: Target) -> None:
        rt = await self.client.resource_type(*target)
        cache = WatchCache(
            self.client, rt, self._handler(*target), label_selector=self.options.selector
        )
        await cache.start()
        self._caches[target] = cache

    async def use(self, kinds: set[Target], documents: list[Document]) -> None:
        """Watch ``kinds`` besides the flags' and reflect with ``documents`` besides the files'.

        Kinds the member cluster does not serve are skipped (the next call tries again); a
        kind left out stops being watched. Objects of kinds whose customizations changed are
        reflected again."""
        if documents != self._service_documents:
            before = _scripts_by_target(self._file_documents + self._service_documents)
            merged = merge_documents(self._file_documents + documents)
            try:
                await asyncio.to_thread(self.registry.set_customizations, merged)
            except CustomizationLoadError as exc:
                log.warning("the service's customizations were not applied: %s", exc)
                return
            self._service_documents = documents
            after = _scripts_by_target(self._file_documents + documents)
            for target in before.keys() | after.keys():
                cache = self._caches.get(target)
                if before.get(target) != after.get(target) and cache is not None:
                    handler = self._handler(*target)
                    for obj in cache.objects():
                        handler(object_key(obj), obj)
        wanted = set(self.options.kinds) | kinds
        for target in sorted(wanted - self._caches.keys()):
            try:
                await self._watch(target)
            except NotFound:
                log.info("%s %s is not served in this cluster yet", *target)
            else:
                log.info("watching %s %s, a kind of the service's customizations", *target)
        for target in sorted(self._caches.keys() - wanted):
            await self._caches.pop(target).stop()
            log.info("no longer watching %s %s", *target)

    async def stop(self) -> None:
        for cache in self._caches.values():
            await cache.stop()


@contextlib.asynccontextmanager
async def running_agent(options: AgentOptions) -> AsyncIterator[Agent]:
    registry = build_registry(
        options.customizations, load_plugins=options.load_plugins, lua=options.lua
    )
    access = load_cluster_access(options.kubeconfig)
    channel = (
        grpc.aio.secure_channel(options.server, options.tls.credentials())
        if options.tls is not None
        else grpc.aio.insecure_channel(options.server)
    )
    async with KubeClient(access, qps=50, burst=100, user_agent="statusagg-agent") as client:
        agent = Agent(options, client, registry, pb_grpc.StatusAggregatorStub(channel))
        await agent.start()
        reporting = asyncio.create_task(agent.reporter.run(), name="reporter")
        following = (
            asyncio.create_task(agent.config.run(), name="agent config")
            if options.kinds_from_service
            else None
        )
        runner, _ = await start_http(
            options.metrics_listen, agent.metrics.registry, agent.reporter.synced.is_set
        )
        try:
            yield agent
        finally:
            for task in (reporting, following):
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            await agent.stop()
            await runner.cleanup()
            await channel.close(None)
            registry.close()


async def run_forever(options: AgentOptions) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running_agent(options):
        log.info(
            "agent for cluster %s reporting %s to %s",
            options.cluster,
            ", ".join(f"{k}.{v}" for v, k in options.kinds),
            options.server,
        )
        await stop.wait()


def _scripts_by_target(documents: list[Document]) -> dict[Target, dict[str, str]]:
    return {
        customization.target: {op.value: s.code for op, s in customization.scripts.items()}
        for customization in merge_documents(documents)
    }
