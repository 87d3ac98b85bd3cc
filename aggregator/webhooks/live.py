"""Live interpreter webhooks: the registry's webhook layer follows the
ResourceInterpreterWebhookConfiguration objects on the control plane.

Each configuration is loaded on its own; one that fails keeps its last good version (or is
left out), gets a Warning Event and counts in ``statusagg_webhook_configuration_errors_total``.
A call that fails names the configuration, webhook and operation, gets a Warning Event on the
configuration and counts in ``statusagg_webhook_calls_total``; the status is never written
from a failed call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from aggregator.events import EventRecorder
from aggregator.kube.client import KubeClient, Obj
from aggregator.kube.served import wait_until_served
from aggregator.kube.watchcache import ObjectKey, WatchCache
from aggregator.metrics import Metrics
from aggregator.webhooks.client import CallFailed, WebhookClient
from aggregator.webhooks.config import (
    API_VERSION,
    KIND,
    OPERATION_NAMES,
    WILDCARD,
    ConfigurationError,
    Webhook,
    parse_configuration,
)
from aggregator.webhooks.protocol import BadAnswer, aggregate_answer, aggregate_request
from interpreters import (
    HookInfo,
    InterpreterError,
    InterpreterUnavailable,
    Layer,
    Operation,
    Registry,
    RemoteHook,
    Target,
)
from interpreters.jsonutil import object_label

log = logging.getLogger(__name__)

LOAD_FAILED = "WebhookConfigurationLoadFailed"
CALL_FAILED = "WebhookCallFailed"
OFF_LOOP_BYTES = 64 * 1024  # answers this large are decoded in a worker thread

KindsChanged = Callable[[Callable[[Target], bool]], None]


class WebhookLayer:
    """The registry's webhook layer: of the webhooks matching a kind and operation, the first
    by ``configuration/name`` serves it, as in Karmada."""

    def __init__(self, webhooks: Sequence[Webhook], live: LiveWebhooks) -> None:
        self.webhooks = sorted(webhooks, key=lambda webhook: webhook.uid)
        self._live = live

    def serving(self, target: Target, operation: Operation) -> Webhook | None:
        if operation is not Operation.AGGREGATE:  # reflect and health run in member clusters
            return None
        return next((w for w in self.webhooks if w.matches(target, operation)), None)

    def find(self, target: Target, operation: Operation) -> RemoteHook | None:
        webhook = self.serving(target, operation)
        if webhook is None:
            return None

        async def aggregate(template: dict[str, Any], items: Sequence[Any]) -> dict[str, Any]:
            return await self._live.aggregate(webhook, template, items)

        return RemoteHook(webhook.label, aggregate)

    def rules(self) -> list[HookInfo]:
        rows = set()
        name = OPERATION_NAMES[Operation.AGGREGATE]
        for webhook in self.webhooks:
            for rule in webhook.rules:
                if not rule.operations & {name, WILDCARD}:
                    continue
                for group in rule.api_groups:
                    for version in rule.api_versions:
                        api_version = f"{group}/{version}" if group else version
                        for kind in rule.kinds:
                            rows.add((api_version, kind, webhook.label))
        return [
            HookInfo(api_version, kind, Operation.AGGREGATE, Layer.WEBHOOK, label)
            for api_version, kind, label in sorted(rows)
        ]


class LiveWebhooks:
    """Watches the webhook configurations and swaps the registry's webhook layer."""

    def __init__(
        self,
        client: KubeClient,
        registry: Registry,
        recorder: EventRecorder,
        metrics: Metrics,
        on_kinds_changed: KindsChanged,
        *,
        http: WebhookClient | None = None,
        discovery_retry_s: float = 30.0,
    ) -> None:
        self._client = client
        self._registry = registry
        self._recorder = recorder
        self._metrics = metrics
        self._on_kinds_changed = on_kinds_changed
        self._http = http or WebhookClient()
        self._discovery_retry_s = discovery_retry_s
        self._cache: WatchCache | None = None
        self._dirty = asyncio.Event()
        self._good: dict[str, list[Webhook]] = {}
        self._objects: dict[str, Obj] = {}  # name -> the object, for its Events
        self._seen: dict[str, str] = {}  # name -> resourceVersion last loaded (or failed)
        self._layer = WebhookLayer([], self)
        self._task: asyncio.Task[None] | None = None
        self.applied = asyncio.Event()  # set after each change reached the registry

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._cache is not None:
            await self._cache.stop()
        await self._http.close()

    async def _run(self) -> None:
        rt = await wait_until_served(
            self._client,
            API_VERSION,
            KIND,
            retry_s=self._discovery_retry_s,
            meanwhile="no interpreter webhooks are called until it does",
        )
        self._cache = WatchCache(self._client, rt, self._changed, metrics=self._metrics)
        await self._cache.start()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            self._apply(self._cache.objects())
            self.applied.set()

    def _changed(self, _key: ObjectKey, _obj: Obj | None) -> None:
        self._dirty.set()

    def _apply(self, objects: list[Obj]) -> None:
        names = set()
        for obj in objects:
            meta = obj["metadata"]
            name, version = meta["name"], str(meta.get("resourceVersion", ""))
            names.add(name)
            self._objects[name] = obj
            if self._seen.get(name) == version:
                continue
            self._seen[name] = version
            try:
                self._good[name] = parse_configuration(obj)
            except ConfigurationError as exc:
                self._load_failed(obj, str(exc))
        for table in (self._good, self._seen, self._objects):
            for name in [n for n in table if n not in names]:
                del table[name]
        before = self._layer
        self._layer = WebhookLayer([w for hooks in self._good.values() for w in hooks], self)
        self._registry.set_webhooks(self._layer if self._layer.webhooks else None)
        self._metrics.webhook_configurations.set(len(self._good))
        after = self._layer

        def changed(target: Target) -> bool:
            operation = Operation.AGGREGATE
            return before.serving(target, operation) != after.serving(target, operation)

        self._on_kinds_changed(changed)

    def _load_failed(self, obj: Obj, reason: str) -> None:
        name = obj["metadata"]["name"]
        kept = "keeps its last good version" if name in self._good else "is not used"
        log.warning("%s %s does not load and %s: %s", KIND, name, kept, reason)
        self._metrics.webhook_configuration_errors.inc()
        self._recorder.record(
            {"apiVersion": API_VERSION, "kind": KIND, **obj},
            "Warning",
            LOAD_FAILED,
            lambda: f"the configuration does not load and {kept}: {reason}",
        )

    async def aggregate(
        self, webhook: Webhook, template: dict[str, Any], items: Sequence[Any]
    ) -> dict[str, Any]:
        """The template with the status ``webhook`` aggregated.

        Raises InterpreterUnavailable when the call may succeed later (timeout, unreachable,
        TLS, HTTP error, busy) and InterpreterError for an answer that cannot be used."""
        operation = OPERATION_NAMES[Operation.AGGREGATE]
        where = f"{webhook.label}: {operation} {object_label(template)}"
        uid = str(uuid.uuid4())
        try:
            body = await self._http.post(webhook, aggregate_request(uid, template, items))
            if len(body) > OFF_LOOP_BYTES:
                result = await asyncio.to_thread(aggregate_answer, uid, template, body)
            else:
                result = aggregate_answer(uid, template, body)
        except CallFailed as exc:
            self._call_failed(webhook, operation, exc.failure.value, f"{where}: {exc}")
            error = InterpreterUnavailable if exc.retryable else InterpreterError
            raise error(f"{where}: {exc}") from exc
        except BadAnswer as exc:
            self._call_failed(webhook, operation, "bad-answer", f"{where}: {exc}")
            raise InterpreterError(f"{where}: {exc}") from exc
        self._metrics.webhook_calls.labels(webhook.configuration, operation, "ok").inc()
        return result

    def _call_failed(self, webhook: Webhook, operation: str, result: str, message: str) -> None:
        self._metrics.webhook_calls.labels(webhook.configuration, operation, result).inc()
        obj = self._objects.get(webhook.configuration)
        if obj is not None:
            self._recorder.record(
                {"apiVersion": API_VERSION, "kind": KIND, **obj},
                "Warning",
                CALL_FAILED,
                lambda: message,
            )
