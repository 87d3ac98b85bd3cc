"""``statusagg demo`` and ``statusagg dev-apiserver``: local development commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from aggregator.cli.lifecycle import local_apiserver
from aggregator.cli.options import add, boolean, non_negative_float, non_negative_int, positive_int


def add_demo_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``demo``."""
    p = sub.add_parser(
        "demo", help="the service with simulated member agents on a local kube-apiserver"
    )
    add(p, "clusters", default=3, kind=positive_int, help="simulated member clusters")
    add(p, "resources", default=20, kind=positive_int, help="Deployments each cluster reports on")
    add(p, "duration", default=20.0, kind=non_negative_float, help="seconds of simulated traffic")
    add(p, "replicas", default=1, kind=positive_int, help="sharded replicas sharing the resources")
    p.set_defaults(func=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    """Run the demo; its exit code."""
    from aggregator.demo import run_demo

    return asyncio.run(run_demo(args.clusters, args.resources, args.duration, args.replicas))


def add_dev_apiserver_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``dev-apiserver``."""
    p = sub.add_parser(
        "dev-apiserver", help="build and run the local kube-apiserver (for development)"
    )
    add(
        p,
        "data-dir",
        default=Path(tempfile.gettempdir()) / "statusagg-dev-apiserver",
        kind=Path,
        help="directory holding all its state (etcd data, certificates, kubeconfig); reused across runs",
    )
    add(
        p,
        "port",
        default=0,
        kind=non_negative_int,
        help="secure port on 127.0.0.1 (0: the last one or a free one)",
    )
    add(
        p,
        "build-only",
        default=False,
        kind=boolean,
        help="only build (or find) the binary and print its path",
    )
    p.set_defaults(func=run_dev_apiserver)


def run_dev_apiserver(args: argparse.Namespace) -> int:
    """Run the local kube-apiserver until Ctrl-C or SIGTERM."""
    from aggregator.devcluster import build

    if args.build_only:
        print(build())
        return 0
    try:
        with local_apiserver(args.data_dir, port=args.port) as server:
            print(
                f"kube-apiserver ready at {server.server}\n"
                f"  export KUBECONFIG={server.kubeconfig}\n"
                f"  data dir {server.data_dir}; Ctrl-C or SIGTERM stops it",
                file=sys.stderr,
            )
            server.wait()
    except KeyboardInterrupt:
        pass
    return 0
