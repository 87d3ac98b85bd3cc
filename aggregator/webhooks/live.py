"""Live interpreter webhooks: the registry's webhook layer follows the
ResourceInterpreterWebhookConfiguration objects on the control plane.

Each configuration is loaded on its own; one that fails keeps its last good version (or is
left out), gets a Warning Event and counts in ``statusagg_webhook_configuration_errors_total``.
A call that fails names the configuration, webhook and operation, gets a Warning Event on the
configuration and counts in ``statusagg_webhook_calls_total``; the status is never written
from a failed call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from aggregator.events import EventRecorder
from aggregator.kube.client import KubeClient, Obj
from aggregator.kube.follow import Follower
from aggregator.metrics import Metrics
from aggregator.webhooks.calls import WebhookCalls
from aggregator.webhooks.client import WebhookClient
from aggregator.webhooks.config import (
    API_VERSION,
    KIND,
    ConfigurationError,
    Webhook,
    parse_configuration,
)
from aggregator.webhooks.layer import WebhookLayer
from interpreters import Registry, Target

log = logging.getLogger(__name__)

LOAD_FAILED = "WebhookConfigurationLoadFailed"
CALL_FAILED = "WebhookCallFailed"

KindsChanged = Callable[[Callable[[Target], bool]], None]


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
        self._registry = registry
        self._recorder = recorder
        self._metrics = metrics
        self._on_kinds_changed = on_kinds_changed
        self._calls = WebhookCalls(metrics.webhook_calls, http=http, on_failure=self._call_failed)
        self._follower = Follower(
            client,
            API_VERSION,
            KIND,
            self._apply,
            retry_s=discovery_retry_s,
            meanwhile="no interpreter webhooks are called until it does",
            metrics=metrics,
            name="webhooks",
        )
        # name -> the last version that loaded, and its webhooks
        self._good: dict[str, tuple[Obj, list[Webhook]]] = {}
        self._objects: dict[str, Obj] = {}  # name -> the object, for its Events
        self._seen: dict[str, str] = {}  # name -> resourceVersion last loaded (or failed)
        self._layer = WebhookLayer([], self._calls)

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()
        await self._calls.close()

    async def _apply(self, objects: list[Obj]) -> None:
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
                self._good[name] = (obj, parse_configuration(obj))
            except ConfigurationError as exc:
                self._load_failed(obj, str(exc))
        for table in (self._good, self._seen, self._objects):
            for name in [n for n in table if n not in names]:
                del table[name]
        before = self._layer
        self._layer = WebhookLayer(
            [w for _, hooks in self._good.values() for w in hooks], self._calls
        )
        self._registry.set_webhooks(self._layer if self._layer.webhooks else None)
        self._metrics.webhook_configurations.set(len(self._good))
        after = self._layer
        self._on_kinds_changed(lambda target: before.differs(after, target))

    def in_force(self) -> list[tuple[Obj, list[Webhook]]]:
        """The configurations in use (each its last version that loaded), sorted by name."""
        return [self._good[name] for name in sorted(self._good)]

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

    def _call_failed(self, webhook: Webhook, operation: str, message: str) -> None:
        obj = self._objects.get(webhook.configuration)
        if obj is not None:
            self._recorder.record(
                {"apiVersion": API_VERSION, "kind": KIND, **obj},
                "Warning",
                CALL_FAILED,
                lambda: message,
            )
