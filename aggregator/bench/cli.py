"""``statusagg bench``: every strategy on every scenario against one local kube-apiserver."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from aggregator.bench.replicas import parse_counts
from aggregator.bench.scenarios import FULL, QUICK, SCENARIOS, build
from aggregator.bench.strategies import STRATEGIES


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``bench`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark statusagg against Karmada-style writers on a local kube-apiserver",
        description="Run every strategy on every scenario against one local kube-apiserver and "
        "write bench.json, bench.md and bench.png (see docs/benchmarks.md).",
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes: the whole matrix in a few minutes"
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("bench-out"),
        metavar="DIR",
        help="where to write the reports (default %(default)s)",
    )
    parser.add_argument(
        "--scenario", action="append", choices=list(SCENARIOS), help="only these (repeatable)"
    )
    parser.add_argument(
        "--strategy", action="append", choices=STRATEGIES, help="only these (repeatable)"
    )
    parser.add_argument(
        "--replicas",
        type=parse_counts,
        default=(1, 2, 3),
        metavar="N,N,...",
        help="replica counts of the replicas figure (default 1,2,3; '' or 0: skip it)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start a local kube-apiserver, run the suite, write the reports; 1 if the CI gate fails."""
    try:
        import matplotlib  # noqa: F401
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError as exc:
        print(
            f"statusagg bench needs the bench extra ({exc.name} is missing): "
            "pip install 'statusagg[bench]'",
            file=sys.stderr,
        )
        return 2
    from aggregator.bench.report import write
    from aggregator.bench.suite import run_suite, steps
    from aggregator.devcluster import LocalAPIServer

    logging.getLogger("aggregator").setLevel(logging.WARNING)
    sizes = QUICK if args.quick else FULL
    scenarios = build(sizes, args.scenario)
    strategies = [s for s in STRATEGIES if not args.strategy or s in args.strategy]
    command = "statusagg bench" + (" --quick" if args.quick else "")
    if args.replicas != (1, 2, 3):
        command += f" --replicas '{','.join(map(str, args.replicas))}'"
    print("starting a local kube-apiserver ...", file=sys.stderr)
    total = steps(scenarios, strategies, args.replicas)
    with LocalAPIServer() as server, tqdm(total=total, unit="run") as bar:

        def done(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update()

        data = asyncio.run(
            run_suite(
                server.kubeconfig,
                sizes,
                scenarios,
                strategies,
                command=command,
                apiserver_pid=server.pid,
                replicas=args.replicas,
                replica_logs=args.out / "replica-logs",
                done=done,
            )
        )
    write(data, args.out)
    pictures = "bench.png and bench-replicas.png" if "replicas" in data else "bench.png"
    print(f"wrote {args.out}/bench.json, bench.md, {pictures}", file=sys.stderr)
    for failure in data["ci_failures"]:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if data["ci_failures"] else 0
