"""``statusagg serve``: flags, their checks, and the run (with a local kube-apiserver when there
is no control plane to talk to)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import socket
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from aggregator.cli.lifecycle import local_apiserver
from aggregator.cli.options import (
    UsageError,
    add,
    boolean,
    choice,
    log_flags,
    non_negative_float,
    non_negative_int,
    positive_int,
)
from aggregator.cli.paths import (
    check_interpreters,
    check_kubeconfig,
    host_port,
    kind_write_mode,
    readable_files,
    status_path,
)
from aggregator.events import EventSettings
from aggregator.ingest import Limits
from aggregator.service import ServiceSettings
from aggregator.store import Quotas
from aggregator.writer import WriteMode
from aggregator.writewar import WarSettings
from interpreters import LuaSettings

if TYPE_CHECKING:
    from aggregator.serve import ServeOptions
    from aggregator.shard.replica import ShardSettings

WRITE_MODES = tuple(mode.value for mode in WriteMode)


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve``."""
    p = sub.add_parser("serve", help="run the aggregation service")
    add(
        p,
        "kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="control-plane kubeconfig; without one (and outside a cluster) a local kube-apiserver is started",
    )
    add(p, "listen", default="127.0.0.1:7443", kind=host_port, help="gRPC address")
    add(
        p,
        "metrics-listen",
        default="127.0.0.1:9090",
        kind=host_port,
        help="metrics and health HTTP address",
    )
    add(
        p,
        "customization",
        default=[],
        kind=Path,
        repeated=True,
        metavar="PATH",
        help="Karmada ResourceInterpreterCustomization YAML file or directory",
    )
    add(
        p,
        "plugins",
        default=True,
        kind=boolean,
        help="load the installed Python interpreter plugins (true or false)",
    )
    add(
        p,
        "live-customizations",
        default=True,
        kind=boolean,
        help="follow ResourceInterpreterCustomization objects on the control plane",
    )
    add(
        p,
        "live-webhooks",
        default=True,
        kind=boolean,
        help="follow ResourceInterpreterWebhookConfiguration objects and call their webhooks",
    )
    lua_flags(p)
    add(p, "workers", default=8, kind=positive_int, help="concurrent reconciles")
    add(
        p,
        "coalesce-delay",
        default=0.02,
        kind=non_negative_float,
        help="seconds a new key waits for more reports (with --adaptive-coalescing, only "
        "when more keys arrive at once than workers are free)",
    )
    add(
        p,
        "adaptive-coalescing",
        default=True,
        kind=boolean,
        help="write a key at once when a worker is free; fold reports only under load",
    )
    add(
        p,
        "min-write-interval",
        default=1.0,
        kind=non_negative_float,
        help="minimum seconds between the starts of two writes of one resource",
    )
    add(p, "write-mode", default="update", kind=choice(*WRITE_MODES), help=", ".join(WRITE_MODES))
    add(
        p,
        "kind-write-mode",
        default=[],
        kind=kind_write_mode,
        repeated=True,
        metavar="KIND=MODE",
        help="write mode for one kind, e.g. Deployment=apply",
    )
    add(
        p,
        "ignore-path",
        default=[],
        kind=status_path,
        repeated=True,
        metavar="PATH",
        help="status field whose changes alone never cause a write, e.g. status.conditions[*].lastTransitionTime",
    )
    add(
        p,
        "write-attempts",
        default=5,
        kind=positive_int,
        help="attempts per write when the object keeps changing (409)",
    )
    add(
        p,
        "retry-backoff-max",
        default=60.0,
        kind=non_negative_float,
        help="longest seconds between two retries of a write that failed for a reason a retry can fix",
    )
    add(
        p,
        "write-war-overwrites",
        default=5,
        kind=positive_int,
        help="overwrites of one status by another field manager, within --write-war-window, that make statusagg hold its writes of it",
    )
    add(
        p,
        "write-war-window",
        default=60.0,
        kind=non_negative_float,
        help="seconds in which --write-war-overwrites start a write war; a war ends when a write stands this long",
    )
    add(
        p,
        "write-war-backoff-max",
        default=300.0,
        kind=non_negative_float,
        help="longest seconds a write war holds the writes of one object (the hold starts at 1 and doubles)",
    )
    add(
        p,
        "resync-interval",
        default=0.0,
        kind=non_negative_float,
        help="seconds between full re-aggregations (0: off)",
    )
    add(
        p,
        "qps",
        default=200.0,
        kind=non_negative_float,
        help="client-side API requests per second (0: unlimited)",
    )
    add(p, "burst", default=400, kind=positive_int, help="client-side burst")
    add(
        p,
        "max-message-bytes",
        default=16 * 1024 * 1024,
        kind=positive_int,
        help="largest gRPC message",
    )
    add(
        p,
        "max-connection-age",
        default=300.0,
        kind=non_negative_float,
        help="seconds before a client connection is closed so clients rebalance across "
        "replicas (0: never)",
    )
    add(
        p,
        "max-connection-age-grace",
        default=60.0,
        kind=non_negative_float,
        help="seconds calls in flight get to finish when a connection reaches its age",
    )
    add(
        p,
        "max-status-bytes",
        default=256 * 1024,
        kind=positive_int,
        help="largest status of one item",
    )
    add(
        p,
        "max-status-values",
        default=10_000,
        kind=positive_int,
        help="most JSON values in one status",
    )
    add(p, "max-status-depth", default=32, kind=positive_int, help="deepest nesting of one status")
    add(
        p,
        "max-cluster-items",
        default=20_000,
        kind=positive_int,
        help="most items held per cluster",
    )
    add(
        p,
        "max-cluster-bytes",
        default=128 * 1024 * 1024,
        kind=positive_int,
        help="most status bytes held per cluster (JSON bytes plus 64 per JSON value)",
    )
    add(
        p,
        "max-cluster-tombstones",
        default=10_000,
        kind=non_negative_int,
        help="most removal records per cluster (the oldest are dropped)",
    )
    add(p, "reflection", default=True, kind=boolean, help="gRPC server reflection")
    add(
        p,
        "shutdown-grace",
        default=10.0,
        kind=non_negative_float,
        help="seconds to flush pending writes on SIGTERM",
    )
    add(p, "events", default=True, kind=boolean, help="record Events on updated templates")
    add(p, "event-qps", default=5.0, kind=non_negative_float, help="events per second, all objects")
    add(p, "event-burst", default=25, kind=positive_int, help="event burst, all objects")
    add(
        p,
        "event-share",
        default=0.01,
        kind=non_negative_float,
        help="Normal events per status write at most (the first write always gets one)",
    )
    add(
        p,
        "event-object-interval",
        default=60.0,
        kind=non_negative_float,
        help="seconds between two events of one object",
    )
    add(p, "tls-cert", default=None, help="serving certificate (PEM) for gRPC")
    add(p, "tls-key", default=None, help="serving key (PEM)")
    add(
        p,
        "client-ca",
        default=None,
        help="CA (PEM) for client certificates: turns on mutual TLS",
    )
    add(
        p,
        "cluster-identity",
        default="cn",
        kind=choice("cn", "uri"),
        help="where a client certificate names its cluster: cn or uri",
    )
    add(
        p,
        "identity-pattern",
        default="",
        kind=_regex,
        help="regex with a named group 'cluster' applied to the CN or URI SAN (uri default: spiffe://<domain>/cluster/<name>)",
    )
    add(
        p,
        "token-map",
        default=None,
        help="YAML file mapping bearer tokens to cluster names",
    )
    add(
        p,
        "reader-identity",
        default=[],
        repeated=True,
        help="identity (certificate name or token-map entry) that may read every cluster's items with GetAggregate; it may not report (also comma-separated)",
    )
    add(
        p,
        "insecure",
        default=False,
        kind=boolean,
        help="allow plaintext gRPC (local development only)",
    )
    _shard_flags(p)
    log_flags(p)
    p.set_defaults(func=run)


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a regular expression: {exc}") from None
    return value


def lua_flags(p: argparse.ArgumentParser) -> None:
    """The Lua worker flags shared by ``serve`` and ``agent``."""
    add(
        p,
        "lua-timeout",
        default=1.0,
        kind=non_negative_float,
        help="seconds one Lua script call may run",
    )
    add(p, "lua-memory", default=64, kind=positive_int, help="MiB one Lua state may allocate")
    add(
        p,
        "lua-workers",
        default=2,
        kind=positive_int,
        help="worker processes that run Lua customizations (a late one is killed and replaced)",
    )


def lua_settings_from(args: argparse.Namespace) -> LuaSettings:
    return LuaSettings(
        timeout_s=args.lua_timeout, memory_mb=args.lua_memory, workers=args.lua_workers
    )


def _shard_flags(p: argparse.ArgumentParser) -> None:
    add(
        p,
        "shard",
        default=False,
        kind=boolean,
        help="share the resources with the other replicas of --shard-group (Lease membership)",
    )
    add(
        p,
        "replica-id",
        default=os.environ.get("POD_NAME") or socket.gethostname(),
        help="this replica's name in the group (the Lease holder)",
    )
    pod_ip = os.environ.get("POD_IP")
    add(
        p,
        "advertise-address",
        default="",
        help=f"host:port peers use to reach this replica (empty: {'$POD_IP' if pod_ip else 'the --listen host'} with the --listen port)",
    )
    add(
        p,
        "lease-namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace of the membership Leases",
    )
    add(p, "shard-group", default="statusagg", help="replicas of one group share the resources")
    add(p, "lease-duration", default=15, kind=positive_int, help="seconds a Lease lives unrenewed")
    add(
        p,
        "lease-renew-interval",
        default=3.0,
        kind=non_negative_float,
        help="seconds between renewals",
    )
    add(
        p,
        "lease-renew-deadline",
        default=10.0,
        kind=non_negative_float,
        help="seconds after the last renewal at which a replica stops writing",
    )
    add(
        p,
        "handover",
        default=15.0,
        kind=non_negative_float,
        help="longest seconds moved resources wait for the agents' resync",
    )
    add(
        p,
        "peer-identity",
        default="statusagg-peer",
        help="identity (certificate name or token-map entry) replicas present to each other",
    )
    add(
        p,
        "peer-token-file",
        default=None,
        help="bearer token this replica presents to peers",
    )
    add(
        p,
        "peer-ca",
        default=None,
        help="CA (PEM) that signed the peers' serving certificates",
    )
    add(
        p,
        "peer-server-name",
        default="",
        help="name to verify on the peers' serving certificates (they are dialled by address)",
    )


def shard_settings_from(args: argparse.Namespace) -> ShardSettings | None:
    """The sharding settings of ``serve``; None unless --shard."""
    from aggregator.shard.peers import PeerCredentials
    from aggregator.shard.replica import ShardSettings

    if not args.shard:
        return None
    host, _, port = args.listen.rpartition(":")
    advertise = args.advertise_address or f"{os.environ.get('POD_IP') or host}:{port}"
    if args.tls_cert and not args.peer_ca:
        raise UsageError("--shard with TLS needs --peer-ca to verify the other replicas")
    peer = PeerCredentials(
        root_certificates=Path(args.peer_ca).read_bytes() if args.peer_ca else None,
        private_key=Path(args.tls_key).read_bytes() if args.client_ca else None,
        certificate_chain=Path(args.tls_cert).read_bytes() if args.client_ca else None,
        token=Path(args.peer_token_file).read_text().strip() if args.peer_token_file else "",
        server_name=args.peer_server_name,
    )
    return ShardSettings(
        replica_id=args.replica_id,
        advertise_address=advertise,
        namespace=args.lease_namespace,
        group=args.shard_group,
        lease_duration_s=args.lease_duration,
        renew_interval_s=args.lease_renew_interval,
        renew_deadline_s=args.lease_renew_deadline,
        handover_s=args.handover,
        peer=peer,
        max_message_bytes=args.max_message_bytes,
    )


def settings_from(args: argparse.Namespace) -> ServiceSettings:
    """The service settings of the parsed ``serve`` flags."""
    return ServiceSettings(
        workers=args.workers,
        coalesce_delay_s=args.coalesce_delay,
        adaptive_coalescing=args.adaptive_coalescing,
        min_write_interval_s=args.min_write_interval,
        write_attempts=args.write_attempts,
        max_backoff_s=args.retry_backoff_max,
        write_wars=WarSettings(
            overwrites=args.write_war_overwrites,
            window_s=args.write_war_window,
            backoff_max_s=args.write_war_backoff_max,
        ),
        write_mode=WriteMode(args.write_mode),
        kind_write_modes=dict(args.kind_write_mode),
        ignore_paths=tuple(args.ignore_path),
        resync_interval_s=args.resync_interval,
        live_customizations=args.live_customizations,
        live_webhooks=args.live_webhooks,
        field_manager=f"statusagg/{args.replica_id}" if args.shard else "statusagg",
        limits=Limits(
            max_status_bytes=args.max_status_bytes,
            max_status_values=args.max_status_values,
            max_status_depth=args.max_status_depth,
        ),
        quotas=Quotas(
            max_items=args.max_cluster_items,
            max_bytes=args.max_cluster_bytes,
            max_tombstones=args.max_cluster_tombstones,
        ),
        events=EventSettings(
            enabled=args.events,
            global_qps=args.event_qps,
            global_burst=args.event_burst,
            normal_share=args.event_share,
            per_object_qps=1 / args.event_object_interval if args.event_object_interval > 0 else 0,
        ),
    )


def options_from(args: argparse.Namespace) -> ServeOptions:
    """Every check of the ``serve`` flags and files; raises UsageError before anything starts.

    The kubeconfig of the result is None when a local kube-apiserver must be started.
    """
    from aggregator.auth import AuthSettings, IdentitySource, load_token_map
    from aggregator.serve import ServeOptions, TLSFiles

    readable_files(
        args, "tls-cert", "tls-key", "client-ca", "token-map", "peer-token-file", "peer-ca"
    )
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if not args.tls_cert and not args.insecure:
        raise UsageError(
            "refusing plaintext gRPC without --insecure; give --tls-cert and --tls-key "
            "(and --client-ca for mutual TLS)"
        )
    if args.client_ca and not args.tls_cert:
        raise UsageError("--client-ca needs --tls-cert and --tls-key")
    tls = (
        TLSFiles(Path(args.tls_cert), Path(args.tls_key), args.client_ca and Path(args.client_ca))
        if args.tls_cert
        else None
    )
    try:
        tokens = load_token_map(Path(args.token_map)) if args.token_map else {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"--token-map: {exc}") from None
    auth = AuthSettings(
        client_certificates=tls is not None and tls.client_ca is not None,
        identity_source=IdentitySource(args.cluster_identity),
        identity_pattern=args.identity_pattern,
        tokens=tokens,
        peer_identity=args.peer_identity,
        reader_identities=frozenset(
            name.strip()
            for entry in args.reader_identity
            for name in entry.split(",")
            if name.strip()
        ),
    )
    if args.peer_identity in auth.reader_identities:
        raise UsageError("the peer identity cannot be a reader identity")
    kubeconfig = Path(args.kubeconfig) if args.kubeconfig else None
    if kubeconfig is not None or "KUBERNETES_SERVICE_HOST" in os.environ:
        check_kubeconfig(kubeconfig)
    check_interpreters(args.customization, load_plugins=args.plugins, lua=lua_settings_from(args))
    return ServeOptions(
        kubeconfig=kubeconfig,
        listen=args.listen,
        metrics_listen=args.metrics_listen,
        customizations=args.customization,
        load_plugins=args.plugins,
        lua=lua_settings_from(args),
        qps=args.qps,
        burst=args.burst,
        max_message_bytes=args.max_message_bytes,
        max_connection_age_s=args.max_connection_age,
        max_connection_age_grace_s=args.max_connection_age_grace,
        reflection=args.reflection,
        shutdown_grace_s=args.shutdown_grace,
        tls=tls,
        auth=auth,
        settings=settings_from(args),
        sharding=shard_settings_from(args),
    )


def run(args: argparse.Namespace) -> int:
    """Check every flag, start a local kube-apiserver if needed, serve until SIGTERM/SIGINT."""
    from aggregator.serve import serve_forever

    options = options_from(args)
    if options.kubeconfig is not None or "KUBERNETES_SERVICE_HOST" in os.environ:
        asyncio.run(serve_forever(options))
        return 0
    data_dir = Path(tempfile.gettempdir()) / "statusagg-serve-apiserver"
    with local_apiserver(data_dir) as server:
        print(
            f"no kubeconfig given: started a local kube-apiserver at {server.server}\n"
            f"  export KUBECONFIG={server.kubeconfig}",
            file=sys.stderr,
        )
        asyncio.run(serve_forever(dataclasses.replace(options, kubeconfig=server.kubeconfig)))
    return 0
