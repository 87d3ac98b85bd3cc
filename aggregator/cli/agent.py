"""``statusagg agent``: a member-cluster agent that reports to the service."""

from __future__ import annotations

import argparse
import asyncio
import os
from pathlib import Path

from aggregator.cli.options import UsageError, add, boolean, log_flags, positive_int
from aggregator.cli.paths import check_interpreters, check_kubeconfig, host_port, readable_files
from aggregator.cli.serve import lua_flags, lua_settings_from


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``agent``."""
    p = sub.add_parser("agent", help="run a member-cluster agent that reports to the service")
    add(p, "cluster", default=None, help="this member cluster's name (required)")
    add(p, "server", default="127.0.0.1:7443", kind=host_port, help="the service's gRPC address")
    add(
        p,
        "kubeconfig",
        default=os.environ.get("KUBECONFIG"),
        help="member-cluster kubeconfig (default: in-cluster, else ~/.kube/config)",
    )
    add(
        p,
        "kinds",
        default="apps/v1/Deployment",
        help="comma-separated kinds to watch, e.g. apps/v1/Deployment,batch/v1/Job",
    )
    add(
        p,
        "kinds-from-service",
        default=True,
        kind=boolean,
        help="also watch the kinds of the service's customizations and webhooks and reflect with them",
    )
    add(p, "selector", default="", help="label selector of propagated objects")
    add(
        p,
        "require-annotation",
        default="work.karmada.io/name",
        help="only objects with this annotation are reported (empty: all)",
    )
    add(
        p,
        "tls-ca",
        default=None,
        help="CA (PEM) that signed the service's certificate",
    )
    add(
        p,
        "tls-cert",
        default=None,
        help="client certificate (PEM) for mutual TLS",
    )
    add(p, "tls-key", default=None, help="client key (PEM)")
    add(p, "token-file", default=None, help="file holding a bearer token")
    add(p, "insecure", default=False, kind=boolean, help="plaintext gRPC (local development only)")
    add(
        p,
        "metrics-listen",
        default="127.0.0.1:9091",
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
        help="ResourceInterpreterCustomization file or directory",
    )
    lua_flags(p)
    add(
        p,
        "batch-size",
        default=500,
        kind=positive_int,
        help="most items per Report or Sync message",
    )
    add(
        p,
        "batch-bytes",
        default=4 * 1024 * 1024,
        kind=positive_int,
        help="most bytes per Report or Sync message",
    )
    log_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Check the flags, then report until SIGTERM/SIGINT."""
    from aggregator.agent.run import AgentOptions, parse_kind, run_forever
    from aggregator.client import TLS

    if not args.cluster:
        raise UsageError("--cluster is required")
    readable_files(args, "tls-ca", "tls-cert", "tls-key", "token-file")
    if not (args.tls_ca or args.tls_cert) and not args.insecure:
        raise UsageError(
            "refusing plaintext gRPC without --insecure; give --tls-ca "
            "(and --tls-cert/--tls-key for mutual TLS)"
        )
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    try:
        kinds = [parse_kind(k.strip()) for k in args.kinds.split(",") if k.strip()]
    except ValueError as exc:
        raise UsageError(f"--kinds: {exc}") from None
    kubeconfig = Path(args.kubeconfig) if args.kubeconfig else None
    check_kubeconfig(kubeconfig)
    check_interpreters(args.customization, load_plugins=True, lua=lua_settings_from(args))
    tls = None
    if args.tls_ca or args.tls_cert:
        ca, cert, key = (Path(p) if p else None for p in (args.tls_ca, args.tls_cert, args.tls_key))
        tls = TLS(ca=ca, cert=cert, key=key)
    options = AgentOptions(
        cluster=args.cluster,
        server=args.server,
        kinds=kinds,
        kinds_from_service=args.kinds_from_service,
        kubeconfig=kubeconfig,
        selector=args.selector,
        require_annotation=args.require_annotation,
        tls=tls,
        token=Path(args.token_file).read_text().strip() if args.token_file else "",
        metrics_listen=args.metrics_listen,
        customizations=args.customization,
        lua=lua_settings_from(args),
        batch_size=args.batch_size,
        batch_bytes=args.batch_bytes,
    )
    asyncio.run(run_forever(options))
    return 0
