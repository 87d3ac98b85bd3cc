"""Prometheus metrics of one service instance (own registry, so several can live in one process).

Besides the service's own series the registry holds the standard ``process_*`` and ``python_*``
collectors, client-go's ``workqueue_*`` names and gRPC server latency per method and code.
Counters export no ``_created`` series. docs/operating.md lists every metric and label value.
"""

from __future__ import annotations

import platform
from importlib.metadata import version

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)

_PREFIX = "statusagg"
# client-go's work-queue latency buckets: 10 ns to 10 s, by factors of 10
_WORKQUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(10))
_RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Every metric the service exports, registered in ``self.registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.build_info = Gauge(
            f"{_PREFIX}_build_info",
            "Always 1; the labels name the statusagg and Python versions.",
            ["version", "python"],
            registry=r,
        )
        self.build_info.labels(version=version("statusagg"), python=platform.python_version()).set(
            1
        )
        self.rpc_duration = Histogram(
            "grpc_server_handling_seconds",
            "gRPC calls served, by method and status code, and how long they took.",
            ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
            buckets=_RPC_BUCKETS,
            registry=r,
        )
        self.workqueue_depth = Gauge(
            "workqueue_depth", "Keys waiting in the work queue.", ["name"], registry=r
        )
        self.workqueue_adds = Counter(
            "workqueue_adds", "Keys added to the work queue (not folded).", ["name"], registry=r
        )
        self.workqueue_queue_duration = Histogram(
            "workqueue_queue_duration_seconds",
            "From a key being due (past its delay) to a worker taking it.",
            ["name"],
            buckets=_WORKQUEUE_BUCKETS,
            registry=r,
        )
        self.workqueue_work_duration = Histogram(
            "workqueue_work_duration_seconds",
            "How long processing one key took.",
            ["name"],
            buckets=_WORKQUEUE_BUCKETS,
            registry=r,
        )
        self.workqueue_retries = Counter(
            "workqueue_retries", "Keys requeued with backoff after an error.", ["name"], registry=r
        )
        self.workqueue_unfinished_work = Gauge(
            "workqueue_unfinished_work_seconds",
            "Seconds of work in flight not yet finished (sum over the keys in flight).",
            ["name"],
            registry=r,
        )
        self.workqueue_longest_running = Gauge(
            "workqueue_longest_running_processor_seconds",
            "Seconds the longest-running key in flight has been processed.",
            ["name"],
            registry=r,
        )
        self.reports = Counter(
            f"{_PREFIX}_reports", "Reported items by result.", ["result", "reason"], registry=r
        )
        self.items_stored = Gauge(
            f"{_PREFIX}_items_stored", "Member items held in the store.", registry=r
        )
        self.limit_rejected = Counter(
            f"{_PREFIX}_limit_rejected",
            "Items rejected because they exceeded a configured limit, by limit.",
            ["limit"],
            registry=r,
        )
        self.cluster_items = Gauge(
            f"{_PREFIX}_cluster_items", "Items held per cluster.", ["cluster"], registry=r
        )
        self.cluster_bytes = Gauge(
            f"{_PREFIX}_cluster_bytes",
            "Bytes charged per cluster (status JSON plus a cost per JSON value).",
            ["cluster"],
            registry=r,
        )
        self.tombstones = Gauge(
            f"{_PREFIX}_tombstones",
            "Removal records (sequence of a removed item) held per cluster.",
            ["cluster"],
            registry=r,
        )
        self.tombstones_evicted = Counter(
            f"{_PREFIX}_tombstones_evicted",
            "Oldest removal records dropped to keep a cluster under its tombstone limit.",
            registry=r,
        )
        self.unknown_removals = Counter(
            f"{_PREFIX}_unknown_removals",
            "Removals of items the service did not hold (each leaves a tombstone).",
            registry=r,
        )
        self.queue_depth = Gauge(
            f"{_PREFIX}_queue_depth", "Keys waiting in the work queue.", registry=r
        )
        self.keys_coalesced = Counter(
            f"{_PREFIX}_keys_coalesced",
            "Enqueues folded into a key that was already waiting or in flight.",
            registry=r,
        )
        self.writes = Counter(
            f"{_PREFIX}_status_writes",
            "Status writes by mode and result.",
            ["mode", "result"],
            registry=r,
        )
        self.skips = Counter(
            f"{_PREFIX}_status_skips", "Aggregations equal to the live status.", registry=r
        )
        self.conflicts = Counter(
            f"{_PREFIX}_conflicts", "409 answers to status writes.", registry=r
        )
        self.write_failures = Counter(
            f"{_PREFIX}_write_failures",
            "Status writes that failed, by reason; too-large and invalid wait for new inputs.",
            ["reason"],
            registry=r,
        )
        self.write_wars = Counter(
            f"{_PREFIX}_write_wars",
            "Write wars started: another field manager kept overwriting a status.",
            registry=r,
        )
        self.write_war_objects = Gauge(
            f"{_PREFIX}_write_war_objects",
            "Objects whose status writes are held because another field manager overwrites them.",
            registry=r,
        )
        self.retries = Counter(
            f"{_PREFIX}_retries", "Keys requeued with backoff after an error.", registry=r
        )
        self.api_requests = Counter(
            f"{_PREFIX}_api_requests",
            "Kubernetes API requests by verb and code.",
            ["verb", "code"],
            registry=r,
        )
        self.report_to_written = Histogram(
            f"{_PREFIX}_report_to_written_seconds",
            "From a report's arrival to the write (or skip) that includes it.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=r,
        )
        self.events = Counter(
            f"{_PREFIX}_events",
            "Events recorded, by outcome (created, folded, limited).",
            ["outcome"],
            registry=r,
        )
        self.interpreter_errors = Counter(
            f"{_PREFIX}_interpreter_errors",
            "Aggregations that failed in the interpreter.",
            registry=r,
        )
        self.customizations = Gauge(
            f"{_PREFIX}_customizations",
            "ResourceInterpreterCustomization objects of the control plane in use.",
            registry=r,
        )
        self.customization_load_errors = Counter(
            f"{_PREFIX}_customization_load_errors",
            "ResourceInterpreterCustomization objects (versions) that failed to load.",
            registry=r,
        )
        self.webhook_configurations = Gauge(
            f"{_PREFIX}_webhook_configurations",
            "ResourceInterpreterWebhookConfiguration objects of the control plane in use.",
            registry=r,
        )
        self.webhook_configuration_errors = Counter(
            f"{_PREFIX}_webhook_configuration_errors",
            "ResourceInterpreterWebhookConfiguration objects (versions) that failed to load.",
            registry=r,
        )
        self.webhook_calls = Counter(
            f"{_PREFIX}_webhook_calls",
            "Interpreter webhook calls by configuration, operation and result.",
            ["configuration", "operation", "result"],
            registry=r,
        )
        self.interpreter_layer = Gauge(
            f"{_PREFIX}_interpreter_layer",
            "1 for the layer serving each apiVersion, kind and operation ('*' for webhook rules).",
            ["api_version", "kind", "operation", "layer"],
            registry=r,
        )
        self.lua_worker_kills = Counter(
            f"{_PREFIX}_lua_worker_kills",
            "Lua worker processes killed: a script passed its deadline or its process failed.",
            registry=r,
        )
        self.auth_rejected = Counter(
            f"{_PREFIX}_auth_rejected",
            "Calls refused by authentication or authorization.",
            ["code"],
            registry=r,
        )
        self.watch_restarts = Counter(
            f"{_PREFIX}_watch_restarts",
            "Watch streams restarted, by reason.",
            ["reason"],
            registry=r,
        )
        self.shard_members = Gauge(
            f"{_PREFIX}_shard_members", "Live replicas in this replica's view.", registry=r
        )
        self.shard_is_member = Gauge(
            f"{_PREFIX}_shard_is_member",
            "1 while this replica holds its membership Lease.",
            registry=r,
        )
        self.shard_view_changes = Counter(
            f"{_PREFIX}_shard_ownership_changes",
            "Membership view changes (each may move resources between replicas).",
            registry=r,
        )
        self.shard_owned_keys = Gauge(
            f"{_PREFIX}_shard_owned_keys",
            "Resources this replica owns and holds items for.",
            registry=r,
        )
        self.shard_handover = Gauge(
            f"{_PREFIX}_shard_handover",
            "1 while resources that moved here wait for the agents' resync.",
            registry=r,
        )
        self.shard_forwarded_items = Counter(
            f"{_PREFIX}_shard_forwarded_items",
            "Items forwarded to the replica that owns them, by call.",
            ["call"],
            registry=r,
        )
        self.shard_forward_errors = Counter(
            f"{_PREFIX}_shard_forward_errors",
            "Calls answered UNAVAILABLE because their items could not be routed.",
            registry=r,
        )
        self.shard_fenced = Counter(
            f"{_PREFIX}_shard_fenced",
            "Reconciles not written because this replica does not own the resource (now).",
            registry=r,
        )
