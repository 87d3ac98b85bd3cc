"""Run an agent: member watch caches -> reflect/health -> batched reports to the service.

Reflection (which may run customization scripts up to their deadline, or wait for an
interpreter webhook up to its timeout) never runs on the event loop: a change only marks its
object, and a background task reflects the marked objects in batches on one dedicated thread,
so the agent's HTTP endpoints and its reports stay responsive while a script or a webhook is
slow. An object whose reflection failed is not reported; when the failure may pass (a webhook
timed out, was unreachable or busy) it is reflected again after a backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import signal
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import Counter

from aggregator.agent.config import ConfigFollower, ServiceConfig
from aggregator.agent.items import member_item, removal_item
from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.client import TLS, Limits, Reporter, ReporterMetrics, StatusClient, open_channel
from aggregator.httpserver import start_http
from aggregator.kube.client import KubeClient, NotFound, Obj
from aggregator.kube.config import load_cluster_access
from aggregator.kube.watchcache import ObjectKey, WatchCache, object_key
from aggregator.webhooks.calls import WebhookCalls
from aggregator.webhooks.config import Webhook
from aggregator.webhooks.layer import MEMBER_OPERATIONS, WebhookLayer
from interpreters import (
    CustomizationLoadError,
    InterpreterError,
    InterpreterUnavailable,
    LuaSettings,
    Registry,
    Target,
    build_registry,
)
from interpreters.jsonutil import object_label
from interpreters.lua import Document, merge_documents

log = logging.getLogger(__name__)

ObjectRef = tuple[Target, ObjectKey]

PROPAGATED_ANNOTATION = "work.karmada.io/name"
FIRST_RETRY_S = 1.0
MAX_RETRY_S = 60.0


@dataclass
class AgentOptions:
    cluster: str
    server: str
    kinds: Sequence[tuple[str, str]]  # (apiVersion, kind)
    kubeconfig: Path | None = None
    selector: str = ""
    require_annotation: str = PROPAGATED_ANNOTATION
    tls: TLS | None = None  # None: plaintext
    token: str = ""
    metrics_listen: str = "127.0.0.1:9091"
    customizations: Sequence[Path] = ()
    load_plugins: bool = True
    lua: LuaSettings = field(default_factory=LuaSettings)
    batch_size: int = 500
    batch_bytes: int = 4 * 1024 * 1024
    heartbeat_s: float = 5.0
    # also watch the kinds of the service's customizations and webhook configurations, and
    # reflect with them
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
        status_client: StatusClient,
    ) -> None:
        self.options = options
        self.client = client
        self.registry = registry
        self.metrics = ReporterMetrics()
        self.metrics_address = ""  # host:port of /metrics and /healthz once serving
        # one thread: registry calls are serialised, and changes reach it in order
        self._reflecting = ThreadPoolExecutor(1, thread_name_prefix="reflect")
        self._dirty: dict[ObjectRef, Obj] = {}
        self._in_flight: set[ObjectRef] = set()
        self._marked = asyncio.Event()
        self._caches: dict[Target, WatchCache] = {}
        self._file_documents = list(registry.documents)
        self._service_documents: list[Document] = []
        self._webhooks: list[Webhook] = []
        self._retries: dict[ObjectRef, int] = {}  # failures in a row that may pass
        r = self.metrics.registry
        self.webhook_calls = Counter(
            "statusagg_agent_webhook_calls",
            "Interpreter webhook calls by configuration, operation and result.",
            ["configuration", "operation", "result"],
            registry=r,
        )
        self.unreflected_objects = Counter(
            "statusagg_agent_reflect_failures",
            "Member object states not reported because reflecting them failed, by whether "
            "they are tried again.",
            ["retried"],
            registry=r,
        )
        self._webhook_calls = WebhookCalls(self.webhook_calls)
        self.config = ConfigFollower(status_client, self.use, interval_s=options.config_interval_s)
        self.reporter = Reporter(
            status_client,
            options.cluster,
            self.snapshot,
            self.metrics,
            heartbeat_s=options.heartbeat_s,
        )

    def _tracked(self, obj: Obj) -> bool:
        wanted = self.options.require_annotation
        return not wanted or wanted in (obj["metadata"].get("annotations") or {})

    def _item(self, api_version: str, kind: str, obj: Obj) -> pb.MemberStatus | InterpreterError:
        try:
            return member_item(self.options.cluster, api_version, kind, obj, self.registry)
        except InterpreterError as exc:
            retried = isinstance(exc, InterpreterUnavailable)
            log.warning(
                "%s is not reported%s: %s",
                object_label(obj),
                " (tried again later)" if retried else "",
                exc,
            )
            self.unreflected_objects.labels(retried="yes" if retried else "no").inc()
            return exc

    def _items(self, objects: list[tuple[Target, Obj]]) -> list[pb.MemberStatus | InterpreterError]:
        """Reflect ``objects`` (blocking: runs on the reflecting thread)."""
        return [self._item(api_version, kind, obj) for (api_version, kind), obj in objects]

    async def _off_loop(
        self, objects: list[tuple[Target, Obj]]
    ) -> list[pb.MemberStatus | InterpreterError]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reflecting, self._items, objects)

    async def snapshot(self) -> list[pb.MemberStatus]:
        """Items for every tracked object now (for Sync), reflected off the event loop."""
        objects = [
            (target, obj)
            for target, cache in self._caches.items()
            for obj in cache.objects()
            if self._tracked(obj)
        ]
        items = await self._off_loop(objects)
        return [item for item in items if isinstance(item, pb.MemberStatus)]

    @property
    def unreflected(self) -> set[ObjectRef]:
        """Objects whose latest change is not yet offered to the reporter."""
        return set(self._dirty) | self._in_flight

    def _handler(self, api_version: str, kind: str):  # type: ignore[no-untyped-def]
        target = (api_version, kind)

        def changed(key: ObjectKey, obj: Obj | None) -> None:
            ref = (target, key)
            if obj is None or not self._tracked(obj):
                # a reflection of the object still on its way is older: drop it
                self._dirty.pop(ref, None)
                self._in_flight.discard(ref)
                self._retries.pop(ref, None)
                namespace, name = key
                self.reporter.offer(
                    removal_item(self.options.cluster, api_version, kind, namespace, name)
                )
                return
            self._dirty[ref] = obj  # a marked object keeps its place in line
            self._marked.set()

        return changed

    async def reflect_changes(self) -> None:
        """Reflect marked objects off the loop and offer their items, until cancelled.

        Marked objects are reflected in the order they were marked, each in its latest state.
        An item is dropped if its object left meanwhile (a removal is never overtaken); if the
        object changed again, the item is offered and the newer state follows in the next
        batch, so the latest state always wins and an object that keeps changing is still
        reported."""
        while True:
            await self._marked.wait()
            self._marked.clear()
            while self._dirty:
                refs = list(itertools.islice(self._dirty, self.options.batch_size))
                batch = [(ref, self._dirty.pop(ref)) for ref in refs]
                self._in_flight = set(refs)
                items = await self._off_loop([(ref[0], obj) for ref, obj in batch])
                for ref, item in zip(refs, items, strict=True):
                    if ref not in self._in_flight:
                        continue
                    if isinstance(item, pb.MemberStatus):
                        self._retries.pop(ref, None)
                        self.reporter.offer(item)
                    elif isinstance(item, InterpreterUnavailable):
                        self._retry_later(ref)
                self._in_flight = set()

    def _retry_later(self, ref: ObjectRef) -> None:
        """Mark ``ref`` again after a backoff that doubles with each failure in a row, unless
        it changed or left meanwhile."""
        failures = self._retries.get(ref, 0) + 1
        self._retries[ref] = failures
        delay = min(FIRST_RETRY_S * 2 ** (failures - 1), MAX_RETRY_S)

        def again() -> None:
            cache = self._caches.get(ref[0])
            obj = cache.get(ref[1]) if cache is not None else None
            if obj is not None and self._retries.get(ref) == failures and ref not in self._dirty:
                self._dirty[ref] = obj
                self._marked.set()

        asyncio.get_running_loop().call_later(delay, again)

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

    async def use(self, config: ServiceConfig) -> None:
        """Watch ``config.kinds`` besides the flags', reflect with ``config.documents`` besides
        the files' and call ``config.webhooks`` for reflect and health.

        Kinds the member cluster does not serve are skipped (the next call tries again); a
        kind left out stops being watched. Objects of kinds whose customizations or serving
        webhooks changed are reflected again."""
        loop = asyncio.get_running_loop()
        documents = config.documents
        if documents != self._service_documents:
            before = _scripts_by_target(self._file_documents + self._service_documents)
            merged = merge_documents(self._file_documents + documents)
            try:
                await loop.run_in_executor(
                    self._reflecting, self.registry.set_customizations, merged
                )
            except CustomizationLoadError as exc:
                log.warning("the service's customizations were not applied: %s", exc)
                return
            self._service_documents = documents
            after = _scripts_by_target(self._file_documents + documents)
            self._reflect_again(
                {t for t in before.keys() | after.keys() if before.get(t) != after.get(t)}
            )
        if config.webhooks != self._webhooks:
            old, new = (
                WebhookLayer(webhooks, self._webhook_calls, MEMBER_OPERATIONS, loop=loop)
                for webhooks in (self._webhooks, config.webhooks)
            )
            layer = new if new.webhooks else None
            await loop.run_in_executor(self._reflecting, self.registry.set_webhooks, layer)
            self._webhooks = config.webhooks
            self._reflect_again({target for target in self._caches if old.differs(new, target)})
        wanted = set(self.options.kinds) | config.kinds
        for target in sorted(wanted - self._caches.keys()):
            try:
                await self._watch(target)
            except NotFound:
                log.info("%s %s is not served in this cluster yet", *target)
            else:
                log.info(
                    "watching %s %s, a kind of the service's customizations or webhooks", *target
                )
        for target in sorted(self._caches.keys() - wanted):
            await self._caches.pop(target).stop()
            log.info("no longer watching %s %s", *target)

    def _reflect_again(self, targets: set[Target]) -> None:
        for target in targets:
            cache = self._caches.get(target)
            if cache is not None:
                handler = self._handler(*target)
                for obj in cache.objects():
                    handler(object_key(obj), obj)

    async def stop(self) -> None:
        for cache in self._caches.values():
            await cache.stop()
        self._reflecting.shutdown(wait=False, cancel_futures=True)
        await self._webhook_calls.close()


@contextlib.asynccontextmanager
async def running_agent(options: AgentOptions) -> AsyncIterator[Agent]:
    registry = build_registry(
        options.customizations, load_plugins=options.load_plugins, lua=options.lua
    )
    access = load_cluster_access(options.kubeconfig)
    channel = open_channel(options.server, options.tls)
    limits = Limits(max_items=options.batch_size, max_bytes=options.batch_bytes)
    async with KubeClient(access, qps=50, burst=100, user_agent="statusagg-agent") as client:
        status_client = StatusClient.over(channel, token=options.token, limits=limits)
        agent = Agent(options, client, registry, status_client)
        await agent.start()
        reflecting = asyncio.create_task(agent.reflect_changes(), name="reflect")
        reporting = asyncio.create_task(agent.reporter.run(), name="reporter")
        following = (
            asyncio.create_task(agent.config.run(), name="agent config")
            if options.kinds_from_service
            else None
        )
        runner, agent.metrics_address = await start_http(
            options.metrics_listen, agent.metrics.registry, agent.reporter.synced.is_set
        )
        try:
            yield agent
        finally:
            for task in (reflecting, reporting, following):
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
