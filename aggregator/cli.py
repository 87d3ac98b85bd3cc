"""The ``statusagg`` command line. Every ``serve`` flag can also be set as STATUSAGG_<FLAG>."""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from aggregator.events import EventSettings
from aggregator.ingest import Limits
from aggregator.service import ServiceSettings
from aggregator.store import Quotas
from aggregator.writer import WriteMode
from aggregator.writewar import WarSettings
from interpreters import LuaSettings

if TYPE_CHECKING:
    from aggregator.shard.replica import ShardSettings


def _env(flag: str, default: str | None = None) -> str | None:
    return os.environ.get("STATUSAGG_" + flag.upper().replace("-", "_"), default)


def _add(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    default: object,
    help: str,
    kind: Callable[[str], Any] = str,
) -> None:
    env_value = _env(flag)
    value = kind(env_value) if env_value is not None else default
    switch: dict[str, Any] = {"nargs": "?", "const": True} if kind is _flag else {}
    parser.add_argument(
        f"--{flag}",
        type=kind,
        default=value,
        help=f"{help} (env STATUSAGG_{flag.upper().replace('-', '_')}; default %(default)s)",
        **switch,
    )


def _flag(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


def _serve_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the aggregation service")
    _add(
        p,
        "kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="control-plane kubeconfig; without one (and outside a cluster) a local kube-apiserver is started",
    )
    _add(p, "listen", default="127.0.0.1:7443", help="gRPC address")
    _add(p, "metrics-listen", default="127.0.0.1:9090", help="metrics and health HTTP address")
    p.add_argument(
        "--customization",
        action="append",
        type=Path,
        default=[Path(x) for x in (_env("customization") or "").split(",") if x],
        help="Karmada ResourceInterpreterCustomization YAML file or directory (repeatable; env STATUSAGG_CUSTOMIZATION, comma-separated)",
    )
    _add(p, "plugins", default=True, kind=_flag, help="load Python interpreter plugins")
    _add(
        p,
        "live-customizations",
        default=True,
        kind=_flag,
        help="follow ResourceInterpreterCustomization objects on the control plane",
    )
    _lua_flags(p)
    _add(p, "workers", default=8, kind=int, help="concurrent reconciles")
    _add(
        p,
        "coalesce-delay",
        default=0.02,
        kind=float,
        help="seconds a new key waits for more reports (with --adaptive-coalescing, only "
        "when more keys arrive at once than workers are free)",
    )
    _add(
        p,
        "adaptive-coalescing",
        default=True,
        kind=_flag,
        help="write a key at once when a worker is free; fold reports only under load",
    )
    _add(
        p,
        "min-write-interval",
        default=1.0,
        kind=float,
        help="minimum seconds between two writes of one resource",
    )
    _add(p, "write-mode", default="update", help="update, merge-patch or apply")
    p.add_argument(
        "--kind-write-mode",
        action="append",
        default=[],
        metavar="KIND=MODE",
        help="write mode for one kind, e.g. Deployment=apply (repeatable)",
    )
    p.add_argument(
        "--ignore-path",
        action="append",
        default=[],
        help="deepdiff path whose changes alone never cause a write, e.g. \"root['conditions']\" (repeatable)",
    )
    _add(
        p,
        "write-attempts",
        default=5,
        kind=int,
        help="attempts per write when the object keeps changing (409)",
    )
    _add(
        p,
        "retry-backoff-max",
        default=60.0,
        kind=float,
        help="longest seconds between two retries of a write that failed for a reason a retry can fix",
    )
    _add(
        p,
        "write-war-overwrites",
        default=5,
        kind=int,
        help="overwrites of one status by another field manager, within --write-war-window, that make statusagg hold its writes of it",
    )
    _add(
        p,
        "write-war-window",
        default=60.0,
        kind=float,
        help="seconds in which --write-war-overwrites start a write war; a war ends when a write stands this long",
    )
    _add(
        p,
        "write-war-backoff-max",
        default=300.0,
        kind=float,
        help="longest seconds a write war holds the writes of one object (the hold starts at 1 and doubles)",
    )
    _add(
        p,
        "resync-interval",
        default=0.0,
        kind=float,
        help="seconds between full re-aggregations (0: off)",
    )
    _add(
        p,
        "qps",
        default=200.0,
        kind=float,
        help="client-side API requests per second (0: unlimited)",
    )
    _add(p, "burst", default=400, kind=int, help="client-side burst")
    _add(p, "max-message-bytes", default=16 * 1024 * 1024, kind=int, help="largest gRPC message")
    _add(p, "max-status-bytes", default=256 * 1024, kind=int, help="largest status of one item")
    _add(p, "max-status-values", default=10_000, kind=int, help="most JSON values in one status")
    _add(p, "max-status-depth", default=32, kind=int, help="deepest nesting of one status")
    _add(p, "max-cluster-items", default=20_000, kind=int, help="most items held per cluster")
    _add(
        p,
        "max-cluster-bytes",
        default=128 * 1024 * 1024,
        kind=int,
        help="most status bytes held per cluster (JSON bytes plus 64 per JSON value)",
    )
    _add(
        p,
        "max-cluster-tombstones",
        default=10_000,
        kind=int,
        help="most removal records per cluster (the oldest are dropped)",
    )
    _add(p, "reflection", default=True, kind=_flag, help="gRPC server reflection")
    _add(
        p,
        "shutdown-grace",
        default=10.0,
        kind=float,
        help="seconds to flush pending writes on SIGTERM",
    )
    _add(p, "events", default=True, kind=_flag, help="record Events on updated templates")
    _add(p, "event-qps", default=5.0, kind=float, help="events per second, all objects")
    _add(p, "event-burst", default=25, kind=int, help="event burst, all objects")
    _add(
        p,
        "event-share",
        default=0.01,
        kind=float,
        help="Normal events per status write at most (the first write always gets one)",
    )
    _add(
        p,
        "event-object-interval",
        default=60.0,
        kind=float,
        help="seconds between two events of one object",
    )
    _add(p, "tls-cert", default=None, help="serving certificate (PEM) for gRPC")
    _add(p, "tls-key", default=None, help="serving key (PEM)")
    _add(p, "client-ca", default=None, help="CA (PEM) for client certificates: turns on mutual TLS")
    _add(
        p,
        "cluster-identity",
        default="cn",
        help="where a client certificate names its cluster: cn or uri",
    )
    _add(
        p,
        "identity-pattern",
        default="",
        help="regex with a named group 'cluster' applied to the CN or URI SAN (uri default: spiffe://<domain>/cluster/<name>)",
    )
    _add(p, "token-map", default=None, help="YAML file mapping bearer tokens to cluster names")
    p.add_argument(
        "--reader-identity",
        action="append",
        default=[x for x in (_env("reader-identity") or "").split(",") if x],
        help="identity (certificate name or token-map entry) that may read every cluster's items "
        "with GetAggregate; it may not report (repeatable or comma-separated; env "
        "STATUSAGG_READER_IDENTITY, comma-separated)",
    )
    _add(
        p,
        "insecure",
        default=False,
        kind=_flag,
        help="allow plaintext gRPC (local development only)",
    )
    _shard_flags(p)
    _add(p, "log-level", default="info", help="debug, info, warning or error")
    p.set_defaults(func=_run_serve)


def _lua_flags(p: argparse.ArgumentParser) -> None:
    _add(p, "lua-timeout", default=1.0, kind=float, help="seconds one Lua script call may run")
    _add(p, "lua-memory", default=64, kind=int, help="MiB one Lua state may allocate")
    _add(
        p,
        "lua-workers",
        default=2,
        kind=int,
        help="worker processes that run Lua customizations (a late one is killed and replaced)",
    )


def lua_settings_from(args: argparse.Namespace) -> LuaSettings:
    return LuaSettings(
        timeout_s=args.lua_timeout, memory_mb=args.lua_memory, workers=args.lua_workers
    )


def _shard_flags(p: argparse.ArgumentParser) -> None:
    _add(
        p,
        "shard",
        default=False,
        kind=_flag,
        help="share the resources with the other replicas of --shard-group (Lease membership)",
    )
    _add(
        p,
        "replica-id",
        default=os.environ.get("POD_NAME") or socket.gethostname(),
        help="this replica's name in the group (the Lease holder)",
    )
    pod_ip = os.environ.get("POD_IP")
    _add(
        p,
        "advertise-address",
        default="",
        help="host:port peers use to reach this replica "
        f"(empty: {'$POD_IP' if pod_ip else 'the --listen host'} with the --listen port)",
    )
    _add(
        p,
        "lease-namespace",
        default=os.environ.get("POD_NAMESPACE", "default"),
        help="namespace of the membership Leases",
    )
    _add(p, "shard-group", default="statusagg", help="replicas of one group share the resources")
    _add(p, "lease-duration", default=15, kind=int, help="seconds a Lease lives unrenewed")
    _add(p, "lease-renew-interval", default=3.0, kind=float, help="seconds between renewals")
    _add(
        p,
        "lease-renew-deadline",
        default=10.0,
        kind=float,
        help="seconds after the last renewal at which a replica stops writing",
    )
    _add(
        p,
        "handover",
        default=15.0,
        kind=float,
        help="longest seconds moved resources wait for the agents' resync",
    )
    _add(
        p,
        "peer-identity",
        default="statusagg-peer",
        help="identity (certificate name or token-map entry) replicas present to each other",
    )
    _add(p, "peer-token-file", default=None, help="bearer token this replica presents to peers")
    _add(p, "peer-ca", default=None, help="CA (PEM) that signed the peers' serving certificates")
    _add(
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
        raise ValueError("--shard with TLS needs --peer-ca to verify the other replicas")
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
    kind_modes = {}
    for entry in args.kind_write_mode:
        kind, _, mode = entry.partition("=")
        kind_modes[kind] = WriteMode(mode)
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
        kind_write_modes=kind_modes,
        ignore_paths=tuple(args.ignore_path),
        resync_interval_s=args.resync_interval,
        live_customizations=args.live_customizations,
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


def _run_serve(args: argparse.Namespace) -> int:
    from aggregator.auth import AuthSettings, IdentitySource, load_token_map
    from aggregator.devcluster import LocalAPIServer
    from aggregator.serve import ServeOptions, TLSFiles, serve_forever

    if bool(args.tls_cert) != bool(args.tls_key):
        print("statusagg serve: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    if not args.tls_cert and not args.insecure:
        print(
            "statusagg serve: refusing plaintext gRPC without --insecure; give --tls-cert and "
            "--tls-key (and --client-ca for mutual TLS)",
            file=sys.stderr,
        )
        return 2
    tls = (
        TLSFiles(
            Path(args.tls_cert),
            Path(args.tls_key),
            Path(args.client_ca) if args.client_ca else None,
        )
        if args.tls_cert
        else None
    )
    auth = AuthSettings(
        client_certificates=tls is not None and tls.client_ca is not None,
        identity_source=IdentitySource(args.cluster_identity),
        identity_pattern=args.identity_pattern,
        tokens=load_token_map(Path(args.token_map)) if args.token_map else {},
        peer_identity=args.peer_identity,
        reader_identities=frozenset(
            name.strip()
            for entry in args.reader_identity
            for name in entry.split(",")
            if name.strip()
        ),
    )
    if args.peer_identity in auth.reader_identities:
        print("statusagg serve: the peer identity cannot be a reader identity", file=sys.stderr)
        return 2
    try:
        sharding = shard_settings_from(args)
    except (OSError, ValueError) as exc:
        print(f"statusagg serve: {exc}", file=sys.stderr)
        return 2

    local: LocalAPIServer | None = None
    kubeconfig = Path(args.kubeconfig) if args.kubeconfig else None
    if kubeconfig is None and "KUBERNETES_SERVICE_HOST" not in os.environ:
        local = LocalAPIServer(Path(tempfile.gettempdir()) / "statusagg-serve-apiserver").start()
        kubeconfig = local.kubeconfig
        print(
            f"no kubeconfig given: started a local kube-apiserver at {local.server}\n"
            f"  export KUBECONFIG={kubeconfig}",
            file=sys.stderr,
        )
    options = ServeOptions(
        kubeconfig=kubeconfig,
        listen=args.listen,
        metrics_listen=args.metrics_listen,
        customizations=args.customization,
        load_plugins=args.plugins,
        lua=lua_settings_from(args),
        qps=args.qps,
        burst=args.burst,
        max_message_bytes=args.max_message_bytes,
        reflection=args.reflection,
        shutdown_grace_s=args.shutdown_grace,
        tls=tls,
        auth=auth,
        settings=settings_from(args),
        sharding=sharding,
    )
    try:
        asyncio.run(serve_forever(options))
    finally:
        if local is not None:
            local.stop()
    return 0


def _dev_apiserver_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "dev-apiserver", help="build and run the local kube-apiserver (for development)"
    )
    p.add_argument(
        "--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "statusagg-dev-apiserver"
    )
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--build-only", action="store_true", help="only build (or find) the binary")
    p.set_defaults(func=_run_dev_apiserver)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run_dev_apiserver(args: argparse.Namespace) -> int:
    from aggregator.devcluster import LocalAPIServer, build

    if args.build_only:
        print(build())
        return 0
    server = LocalAPIServer(args.data_dir, port=args.port)
    # the server runs in its own session: stop it on SIGTERM as on Ctrl-C
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.start()
        print(
            f"kube-apiserver ready at {server.server}\n  export KUBECONFIG={server.kubeconfig}\n"
            f"  data dir {server.data_dir}; Ctrl-C or SIGTERM stops it",
            file=sys.stderr,
        )
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def _get_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("get", help="show what a running service holds for one resource")
    p.add_argument("--address", default=_env("address", "127.0.0.1:7443"))
    p.add_argument("api_version")
    p.add_argument("kind")
    p.add_argument("name", help="NAMESPACE/NAME or NAME")
    p.set_defaults(func=_run_get)


def _run_get(args: argparse.Namespace) -> int:
    import grpc
    from google.protobuf.json_format import MessageToDict

    from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
    from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc

    namespace, _, name = args.name.rpartition("/")
    with grpc.insecure_channel(args.address) as channel:
        reply = pb_grpc.StatusAggregatorStub(channel).GetAggregate(
            pb.GetAggregateRequest(
                resource=pb.ResourceRef(
                    api_version=args.api_version, kind=args.kind, namespace=namespace, name=name
                )
            )
        )
    out = MessageToDict(reply, preserving_proto_field_name=True)
    out["aggregated_status"] = json.loads(reply.aggregated_status_json or b"null")
    out.pop("aggregated_status_json", None)
    for item in out.get("items", []):
        item["status"] = json.loads(base64.b64decode(item.pop("status_json", "")) or b"null")
    print(json.dumps(out, indent=2))
    return 0


def _agent_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("agent", help="run a member-cluster agent that reports to the service")
    _add(p, "cluster", default=None, help="this member cluster's name")
    _add(p, "server", default="127.0.0.1:7443", help="the service's gRPC address")
    _add(
        p,
        "kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="member-cluster kubeconfig (default: in-cluster)",
    )
    _add(
        p,
        "kinds",
        default="apps/v1/Deployment",
        help="comma-separated kinds to watch, e.g. apps/v1/Deployment,batch/v1/Job",
    )
    _add(p, "selector", default="", help="label selector of propagated objects")
    _add(
        p,
        "require-annotation",
        default="work.karmada.io/name",
        help="only objects with this annotation are reported (empty: all)",
    )
    _add(p, "tls-ca", default=None, help="CA (PEM) that signed the service's certificate")
    _add(p, "tls-cert", default=None, help="client certificate (PEM) for mutual TLS")
    _add(p, "tls-key", default=None, help="client key (PEM)")
    _add(p, "token-file", default=None, help="file holding a bearer token")
    _add(p, "insecure", default=False, kind=_flag, help="plaintext gRPC (local development only)")
    _add(p, "metrics-listen", default="127.0.0.1:9091", help="metrics and health HTTP address")
    p.add_argument(
        "--customization",
        action="append",
        type=Path,
        default=[],
        help="ResourceInterpreterCustomization file or directory (repeatable)",
    )
    _lua_flags(p)
    _add(p, "batch-size", default=500, kind=int, help="items per Report call")
    _add(p, "log-level", default="info", help="debug, info, warning or error")
    p.set_defaults(func=_run_agent)


def _run_agent(args: argparse.Namespace) -> int:
    from aggregator.agent.run import AgentOptions, AgentTLS, parse_kind, run_forever

    if not args.cluster:
        print("statusagg agent: --cluster is required", file=sys.stderr)
        return 2
    if not (args.tls_ca or args.tls_cert) and not args.insecure:
        print(
            "statusagg agent: refusing plaintext gRPC without --insecure; give --tls-ca "
            "(and --tls-cert/--tls-key for mutual TLS)",
            file=sys.stderr,
        )
        return 2
    tls = None
    if args.tls_ca or args.tls_cert:
        tls = AgentTLS(
            *(Path(p) if p else None for p in (args.tls_ca, args.tls_cert, args.tls_key))
        )
    options = AgentOptions(
        cluster=args.cluster,
        server=args.server,
        kinds=[parse_kind(k.strip()) for k in args.kinds.split(",") if k.strip()],
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        selector=args.selector,
        require_annotation=args.require_annotation,
        tls=tls,
        token=Path(args.token_file).read_text().strip() if args.token_file else "",
        metrics_listen=args.metrics_listen,
        customizations=args.customization,
        lua=lua_settings_from(args),
        batch_size=args.batch_size,
    )
    asyncio.run(run_forever(options))
    return 0


def _demo_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "demo", help="the service with simulated member agents on a local kube-apiserver"
    )
    p.add_argument("--clusters", type=int, default=3)
    p.add_argument("--resources", type=int, default=20)
    p.add_argument("--duration", type=float, default=20.0, help="seconds of simulated traffic")
    p.add_argument("--replicas", type=int, default=1, help="sharded replicas sharing the resources")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> int:
    from aggregator.demo import run_demo

    if args.replicas < 1:
        print("statusagg demo: --replicas must be at least 1", file=sys.stderr)
        return 2
    return asyncio.run(run_demo(args.clusters, args.resources, args.duration, args.replicas))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="statusagg", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _serve_parser(sub)
    _demo_parser(sub)
    _agent_parser(sub)
    _get_parser(sub)
    _dev_apiserver_parser(sub)
    from aggregator.bench import cli as bench_cli
    from interpreters import cli as interpret_cli

    interpret_cli.add_parser(sub)
    bench_cli.add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(getattr(args, "log_level", "info")).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
