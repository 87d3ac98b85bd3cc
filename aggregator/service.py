"""The aggregation pipeline of one service instance: ingest -> store -> queue -> reconcile."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from aggregator.customizations import LiveCustomizations
from aggregator.events import EventRecorder, EventSettings
from aggregator.ingest import Limits, RawItem, Rejected, Validator, repeats
from aggregator.kube.client import KubeClient, Obj
from aggregator.metrics import Metrics
from aggregator.model import MemberItem, ResourceKey
from aggregator.reconcile import KeyState, Reconciler
from aggregator.rejection import RejectReason
from aggregator.store import MemberStore, Outcome, QuotaExceeded, Quotas
from aggregator.templates import TemplateCaches
from aggregator.webhooks.config import Webhook
from aggregator.webhooks.live import LiveWebhooks
from aggregator.workqueue import ShutDown, WorkQueue
from aggregator.writer import StatusWriter, WriteMode
from aggregator.writewar import WarSettings, WriteWars
from interpreters import Operation, Registry
from interpreters.lua import Document

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSettings:
    workers: int = 8
    coalesce_delay_s: float = 0.02  # with adaptive_coalescing, only while every worker is busy
    adaptive_coalescing: bool = True
    min_write_interval_s: float = 1.0
    max_backoff_s: float = 60.0
    write_attempts: int = 5
    field_manager: str = "statusagg"  # for update and merge-patch; apply is always "statusagg"
    write_mode: WriteMode = WriteMode.UPDATE
    kind_write_modes: dict[str, WriteMode] = field(default_factory=dict)
    ignore_paths: tuple[str, ...] = ()  # status field paths, see aggregator.statuspath
    resync_interval_s: float = 0.0
    watch_read_timeout_s: float = 70.0
    limits: Limits = field(default_factory=Limits)
    quotas: Quotas = field(default_factory=Quotas)
    events: EventSettings = field(default_factory=EventSettings)
    live_customizations: bool = True  # follow ResourceInterpreterCustomization objects
    live_webhooks: bool = True  # follow ResourceInterpreterWebhookConfiguration objects
    write_wars: WarSettings = field(default_factory=WarSettings)


# batches whose statuses add up to this many bytes are validated in a worker thread
OFF_LOOP_BYTES = 64 * 1024


@dataclass(frozen=True)
class ItemResult:
    outcome: str  # accepted, stale, rejected
    reason: str = ""


ACCEPTED = ItemResult("accepted")
STALE = ItemResult("stale", "an equal or newer sequence is stored")


class AggregationService:
    """Owns the store, the queue, the workers and the watch caches of one instance."""

    def __init__(
        self,
        client: KubeClient,
        registry: Registry,
        settings: ServiceSettings | None = None,
        metrics: Metrics | None = None,
        may_write: Callable[[ResourceKey], bool] | None = None,
    ) -> None:
        """``may_write`` fences writes when several replicas share the resources."""
        self.settings = settings or ServiceSettings()
        self.metrics = metrics or client.metrics or Metrics()
        self.epoch = uuid.uuid4().hex
        self.client = client
        self.registry = registry
        self.validator = Validator(
            lambda api_version, kind: registry.supports(Operation.AGGREGATE, api_version, kind),
            self.settings.limits,
        )
        self.store = MemberStore(self.settings.quotas, self.metrics)
        self.queue: WorkQueue[ResourceKey] = WorkQueue(
            coalesce_delay_s=self.settings.coalesce_delay_s,
            min_interval_s=self.settings.min_write_interval_s,
            max_backoff_s=self.settings.max_backoff_s,
            fold_above=self.settings.workers if self.settings.adaptive_coalescing else 0,
            metrics=self.metrics,
        )
        self.caches = TemplateCaches(
            client,
            self._template_changed,
            metrics=self.metrics,
            read_timeout_s=self.settings.watch_read_timeout_s,
        )
        self.recorder = EventRecorder(client, self.settings.events, self.metrics)
        self.customizations = (
            LiveCustomizations(
                client, registry, self.recorder, self.metrics, self._customizations_changed
            )
            if self.settings.live_customizations
            else None
        )
        self.webhooks = (
            LiveWebhooks(client, registry, self.recorder, self.metrics, self._webhooks_changed)
            if self.settings.live_webhooks
            else None
        )
        self.reconciler = Reconciler(
            self.store,
            self.caches,
            registry,
            StatusWriter(
                client,
                self.metrics,
                max_attempts=self.settings.write_attempts,
                field_manager=self.settings.field_manager,
            ),
            self.recorder,
            self.metrics,
            write_mode=self.settings.write_mode,
            kind_write_modes=self.settings.kind_write_modes,
            ignore_paths=self.settings.ignore_paths,
            may_write=may_write,
            wars=WriteWars(self.settings.write_wars),
            field_manager=self.settings.field_manager,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._changed_in_flight: dict[ResourceKey, Obj | None] = {}
        self.accepting = False

    async def start(self) -> None:
        self.recorder.start()
        if self.customizations is not None:
            await self.customizations.start()
        if self.webhooks is not None:
            await self.webhooks.start()
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"worker-{i}")
            for i in range(self.settings.workers)
        ]
        if self.settings.resync_interval_s > 0:
            self._tasks.append(asyncio.create_task(self._resync(), name="resync"))
        self.accepting = True
        log.info(
            "aggregation service started (epoch %s, %d workers)", self.epoch, self.settings.workers
        )

    async def stop(self, grace_s: float = 10.0) -> list[ResourceKey]:
        """Stop accepting, flush pending writes within ``grace_s``; return what was left."""
        self.accepting = False
        self.queue.shut_down()
        workers = [t for t in self._tasks if t.get_name().startswith("worker")]
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.gather(*workers, return_exceptions=True), grace_s)
        left = self.queue.pending()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.recorder.stop()
        if self.customizations is not None:
            await self.customizations.stop()
        if self.webhooks is not None:
            await self.webhooks.stop()
        await self.caches.stop()
        if left:
            log.warning(
                "stopped with %d resources not yet written: %s",
                len(left),
                ", ".join(map(str, left[:20])),
            )
        return left

    # ingest -----------------------------------------------------------------------------

    def _validate(
        self, raw_items: Sequence[RawItem], cluster: str | None = None
    ) -> tuple[list[ItemResult | None], list[MemberItem]]:
        """Validate a batch: a result per rejected item (None where valid) and the valid items.

        With ``cluster`` every item must belong to it (a Sync)."""
        results: list[ItemResult | None] = []
        valid: list[MemberItem] = []
        seen: set[tuple[ResourceKey, str]] = set()
        for raw in raw_items:
            try:
                item = self.validator.validate(raw)
            except Rejected as exc:
                results.append(self._rejected(exc.reason, str(exc), exc.limit))
                continue
            if cluster is not None and item.cluster != cluster:
                reason = f"item of cluster {item.cluster!r} in a Sync of {cluster!r}"
                results.append(self._rejected(RejectReason.WRONG_CLUSTER, reason))
                continue
            if (item.key, item.cluster) in seen:
                results.append(
                    self._rejected(
                        RejectReason.DUPLICATE_ITEM, "duplicate item for this resource and cluster"
                    )
                )
                continue
            seen.add((item.key, item.cluster))
            results.append(None)
            valid.append(item)
        return results, valid

    async def _validate_off_loop(
        self, raw_items: Sequence[RawItem], cluster: str | None = None
    ) -> tuple[list[ItemResult | None], list[MemberItem]]:
        """``_validate`` in a worker thread when the batch is big enough to stall the loop."""
        if sum(len(raw.status_json) for raw in raw_items) < OFF_LOOP_BYTES:
            return self._validate(raw_items, cluster)
        return await asyncio.to_thread(self._validate, raw_items, cluster)

    def report(self, raw_items: Sequence[RawItem]) -> list[ItemResult]:
        """Validate and store a batch; each item gets its own result."""
        results, rest = self._repeated(raw_items)
        if rest:
            self._merge(results, rest, self._store(*self._validate([raw_items[i] for i in rest])))
        return [r or ACCEPTED for r in results]

    async def report_off_loop(
        self, raw_items: Sequence[RawItem], before_store: Callable[[], None] = lambda: None
    ) -> list[ItemResult]:
        """``report``, parsing a big batch in a worker thread; ``before_store`` runs between
        parsing and storing (it may raise to store nothing more)."""
        results, rest = self._repeated(raw_items)
        if rest:
            checked = await self._validate_off_loop([raw_items[i] for i in rest])
            before_store()
            self._merge(results, rest, self._store(*checked))
        return [r or ACCEPTED for r in results]

    @staticmethod
    def _merge(
        results: list[ItemResult | None], indexes: list[int], answers: list[ItemResult]
    ) -> None:
        for index, answer in zip(indexes, answers, strict=True):
            results[index] = answer

    def _repeated(self, raw_items: Sequence[RawItem]) -> tuple[list[ItemResult | None], list[int]]:
        """Answer the items that repeat a held item byte for byte, without parsing them.

        Returns a result per item (None where not answered) and the indexes of the others,
        which need validation. A batch naming a resource and cluster twice is left whole to
        validation, which refuses the duplicates."""
        results: list[ItemResult | None] = [None] * len(raw_items)
        rest: list[int] = []
        pairs = [
            (ResourceKey(r.api_version, r.kind, r.namespace, r.name), r.cluster) for r in raw_items
        ]
        if len(set(pairs)) != len(pairs):
            return results, list(range(len(raw_items)))
        supported: dict[tuple[str, str], bool] = {}
        accepted = stale = 0
        for index, (raw, (key, cluster)) in enumerate(zip(raw_items, pairs, strict=True)):
            held = self.store.get(key, cluster)
            if held is None or not repeats(raw, held):
                rest.append(index)
                continue
            type_key = (key.api_version, key.kind)
            if type_key not in supported:
                supported[type_key] = self.validator.supports_kind(*type_key)
            if not supported[type_key]:
                rest.append(index)
                continue
            if self.store.renew(held, raw.sequence) is Outcome.STALE:
                results[index] = STALE
                stale += 1
            else:
                results[index] = ACCEPTED
                accepted += 1
        if accepted:
            self.metrics.reports.labels(result="accepted", reason="").inc(accepted)
        if stale:
            self.metrics.reports.labels(result="stale", reason="").inc(stale)
        return results, rest

    def _store(self, results: list[ItemResult | None], valid: list[MemberItem]) -> list[ItemResult]:
        valid_items = iter(valid)
        accepted = stale = 0
        for index, result in enumerate(results):
            if result is not None:
                continue
            item = next(valid_items)
            try:
                outcome = self.store.put(item)
            except QuotaExceeded as exc:
                results[index] = self._rejected(exc.reason, str(exc), exc.limit)
                continue
            if outcome is Outcome.UNKNOWN_REMOVAL:
                self.metrics.unknown_removals.inc()
            if outcome is Outcome.STALE:
                stale += 1
                results[index] = STALE
                continue
            accepted += 1
            results[index] = ACCEPTED
            if outcome is Outcome.CHANGED:
                self._enqueue(item.key, item.received_at)
        if accepted:
            self.metrics.reports.labels(result="accepted", reason="").inc(accepted)
        if stale:
            self.metrics.reports.labels(result="stale", reason="").inc(stale)
        self.metrics.items_stored.set(len(self.store))
        return [r or ACCEPTED for r in results]

    def sync(self, cluster: str, raw_items: Sequence[RawItem]) -> list[ItemResult]:
        """Replace the whole state of ``cluster`` with the valid items of ``raw_items``."""
        return self._replace(cluster, *self._validate(raw_items, cluster))

    async def sync_off_loop(
        self,
        cluster: str,
        raw_items: Sequence[RawItem],
        before_store: Callable[[], None] = lambda: None,
    ) -> list[ItemResult]:
        """``sync``, parsing a big batch in a worker thread; ``before_store`` runs between
        parsing and storing (it may raise to store nothing)."""
        checked = await self._validate_off_loop(raw_items, cluster)
        before_store()
        return self._replace(cluster, *checked)

    def _replace(
        self, cluster: str, results: list[ItemResult | None], valid: list[MemberItem]
    ) -> list[ItemResult]:
        admitted, refused = self.store.admit(cluster, valid)
        if refused:
            reasons = {id(item): exc for item, exc in refused}
            valid_items = iter(valid)
            for index, result in enumerate(results):
                if result is None:
                    exc = reasons.get(id(next(valid_items)))
                    if exc is not None:
                        results[index] = self._rejected(exc.reason, str(exc), exc.limit)
            valid = admitted
        return self.apply_sync(cluster, results, valid)

    async def validate_sync(
        self, cluster: str, raw_items: Sequence[RawItem]
    ) -> tuple[list[ItemResult | None], list[MemberItem]]:
        """Validate part of a Sync of ``cluster``: a result per rejected item (None where
        valid) and the valid items, parsed in a worker thread when the part is big."""
        return await self._validate_off_loop(raw_items, cluster)

    def apply_sync(
        self, cluster: str, results: list[ItemResult | None], valid: list[MemberItem]
    ) -> list[ItemResult]:
        """Make ``valid`` (within the cluster's quotas) the whole state of ``cluster``;
        ``results`` holds None for each accepted item."""
        self.metrics.reports.labels(result="accepted", reason="").inc(len(valid))
        now = time.monotonic()
        for key in self.store.replace_cluster(cluster, valid):
            self._enqueue(key, now)
        self.metrics.items_stored.set(len(self.store))
        return [r or ACCEPTED for r in results]

    def reject(self, reason: RejectReason, message: str, limit: str = "") -> ItemResult:
        """The result of a rejected item, counted in the metrics."""
        return self._rejected(reason, message, limit)

    def _rejected(self, reason: RejectReason, message: str, limit: str = "") -> ItemResult:
        self.metrics.reports.labels(result="rejected", reason=reason).inc()
        if limit:
            self.metrics.limit_rejected.labels(limit=limit).inc()
        return ItemResult("rejected", message)

    def _enqueue(self, key: ResourceKey, received_at: float) -> None:
        self.reconciler.note_report(key, received_at)
        self.queue.add(key)

    def _customizations_changed(self, targets: set[tuple[str, str]]) -> None:
        for key in self.store.keys():  # noqa: SIM118 (a MemberStore, not a dict)
            if (key.api_version, key.kind) in targets:
                self.queue.add(key)

    def _webhooks_changed(self, changed: Callable[[tuple[str, str]], bool]) -> None:
        for key in self.store.keys():  # noqa: SIM118 (a MemberStore, not a dict)
            if changed((key.api_version, key.kind)):
                self.queue.add(key)

    def _template_changed(self, key: ResourceKey, obj: Obj | None) -> None:
        if self.queue.processing(key):
            # judged once the reconcile in flight is done: usually it is that reconcile's own
            # write, which the writer has stored by then, and nothing needs to run again
            self._changed_in_flight[key] = obj
            return
        if self.reconciler.drifted(key, obj):
            self.queue.add(key)

    def _recheck(self, key: ResourceKey, *, requeue: bool) -> None:
        """Judge the last template change seen while ``key`` was in flight; ``requeue=False``
        when the key is already due again (a retry, a hold), which such a change never hurried."""
        if key in self._changed_in_flight:
            drifted = self.reconciler.drifted(key, self._changed_in_flight.pop(key))
            if drifted and requeue:
                self.queue.add(key)

    # ownership --------------------------------------------------------------------------

    def forget(self, keep: Callable[[ResourceKey], bool]) -> int:
        """Drop the items and state of every resource ``keep`` rejects; return how many."""
        dropped = [key for key in self.store.keys() if not keep(key)]  # noqa: SIM118
        self.store.drop_resources(dropped)
        for key in dropped:
            self.reconciler.states.pop(key, None)
            self.reconciler.wars.forget(key)
        self.metrics.items_stored.set(len(self.store))
        return len(dropped)

    def requeue_all(self) -> None:
        """Reconcile every resource with items again (after a handover)."""
        for key in self.store.keys():  # noqa: SIM118 (a MemberStore, not a dict)
            self.queue.add(key)

    def clusters(self) -> set[str]:
        return self.store.clusters()

    def refresh_gauges(self) -> None:
        """Per-cluster holdings and the layer serving each kind, for a scrape."""
        for gauge in (self.metrics.cluster_items, self.metrics.cluster_bytes):
            gauge.clear()
        for cluster, (items, size) in self.store.held().items():
            self.metrics.cluster_items.labels(cluster=cluster).set(items)
            self.metrics.cluster_bytes.labels(cluster=cluster).set(size)
        self.metrics.tombstones.clear()
        for cluster, count in self.store.tombstones().items():
            self.metrics.tombstones.labels(cluster=cluster).set(count)
        self.metrics.interpreter_layer.clear()
        for row in self.registry.describe():
            self.metrics.interpreter_layer.labels(
                row.api_version, row.kind, row.operation.value, row.layer.value
            ).set(1)

    # queries ----------------------------------------------------------------------------

    def customization_documents(self) -> list[Document]:
        """The customizations in force (files, and live objects when followed)."""
        if self.customizations is not None:
            return self.customizations.documents
        return list(self.registry.documents)

    def webhook_configurations(self) -> list[tuple[Obj, list[Webhook]]]:
        """The interpreter webhook configurations in use (none when not followed)."""
        return self.webhooks.in_force() if self.webhooks is not None else []

    def items(self, key: ResourceKey) -> list[MemberItem]:
        return self.store.items(key)

    def state(self, key: ResourceKey) -> KeyState | None:
        return self.reconciler.states.get(key)

    # workers ----------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            held = self.reconciler.held(key)
            if held > 0:
                self.queue.done(key, throttle=False, after=held)
                self._recheck(key, requeue=False)
                continue
            failed, wrote = False, True
            try:
                wrote = await self.reconciler.reconcile(key)
            except asyncio.CancelledError:
                self.queue.done(key, failed=True)
                self._changed_in_flight.pop(key, None)
                raise
            except Exception as exc:
                failed = True
                log.warning("reconciling %s failed, will retry: %s", key, exc)
            # only a write starts the minimum interval: a skip must not delay the next change
            delay = self.queue.done(key, failed=failed, throttle=wrote)
            self._recheck(key, requeue=not failed)
            if delay is not None:
                self.metrics.retries.inc()
                self.reconciler.retrying(key, delay)

    async def _resync(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_interval_s)
            for key in self.store.keys():  # noqa: SIM118 (a MemberStore, not a dict)
                self.queue.add(key)
