"""``statusagg bench``: every variant on every scenario against one local kube-apiserver;
``statusagg bench report``: the reports (and the docs' generated parts) from a bench.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from pathlib import Path

from aggregator.bench.replicas import parse_counts
from aggregator.bench.scenarios import FULL, QUICK, SCENARIOS, build
from aggregator.bench.variants import STRATEGIES, all_variants

QUICK_REPLICAS: tuple[int, ...] = ()
FULL_REPLICAS = (1, 2, 3)


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``bench`` subcommand and its ``report`` subcommand."""
    parser = subparsers.add_parser(
        "bench",
        help="benchmark statusagg against Karmada-style writers on a local kube-apiserver",
        description="Run every variant on every scenario, in rounds, against one local "
        "kube-apiserver and write bench.json, bench.md and a plot per scenario "
        "(see docs/benchmarks.md).",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 3 rounds: what CI runs")
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
        "--rounds", type=int, help="repetitions of every run (default: 3 quick, 5 full)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the random run order (default 0)"
    )
    parser.add_argument(
        "--replicas",
        type=parse_counts,
        metavar="N,N,...",
        help="replica counts of the replicas figure (default: none with --quick, else 1,2,3; "
        "'' or 0: skip it)",
    )
    parser.set_defaults(func=run)
    commands = parser.add_subparsers(dest="bench_command", metavar="report")
    report = commands.add_parser(
        "report",
        help="write bench.md and the plots from a bench.json, and update the docs",
        description="Regenerate bench.md and the plots next to a bench.json; with "
        "--update-docs, also the generated parts of README.md and docs/benchmarks.md.",
    )
    report.add_argument(
        "--from", dest="source", type=Path, required=True, metavar="FILE", help="a bench.json"
    )
    report.add_argument(
        "--update-docs",
        action="store_true",
        help="rewrite the generated parts of README.md and docs/benchmarks.md",
    )
    report.add_argument(
        "--root",
        type=Path,
        default=Path.cwd(),
        help="the repository whose docs to update (default: the current directory)",
    )
    report.set_defaults(func=report_command)


def _needs_extra() -> int | None:
    try:
        import matplotlib  # noqa: F401
        from tqdm import tqdm  # type: ignore[import-untyped]  # noqa: F401
    except ImportError as exc:
        print(
            f"statusagg bench needs the bench extra ({exc.name} is missing): "
            "pip install 'statusagg[bench]'",
            file=sys.stderr,
        )
        return 2
    return None


def report_command(args: argparse.Namespace) -> int:
    """Regenerate the reports from ``--from``; with ``--update-docs``, the docs too."""
    missing = _needs_extra()
    if missing is not None:
        return missing
    from aggregator.bench.docs import MarkersMissing, update_docs
    from aggregator.bench.report import write
    from aggregator.bench.results import judged

    try:
        data = judged(json.loads(args.source.read_text()))
    except (OSError, json.JSONDecodeError) as exc:
        print(f"cannot read {args.source}: {exc}", file=sys.stderr)
        return 2
    write(data, args.source.parent, with_json=False)
    print(f"wrote {args.source.parent}/bench.md and the plots", file=sys.stderr)
    if args.update_docs:
        try:
            written = update_docs(data, args.root, args.source.parent)
        except (OSError, MarkersMissing) as exc:
            print(f"cannot update the docs: {exc}", file=sys.stderr)
            return 2
        print("updated " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    """Start a local kube-apiserver, run the suite, write the reports; 1 if the CI gate fails."""
    missing = _needs_extra()
    if missing is not None:
        return missing
    from tqdm import tqdm

    from aggregator.bench.host import cores
    from aggregator.bench.report import pictures, write
    from aggregator.bench.suite import run_suite, steps
    from aggregator.devcluster import LocalAPIServer

    logging.getLogger("aggregator").setLevel(logging.WARNING)
    sizes = QUICK if args.quick else FULL
    rounds = args.rounds or sizes.rounds
    replicas = args.replicas
    if replicas is None:
        replicas = QUICK_REPLICAS if args.quick else FULL_REPLICAS
    scenarios = build(sizes, args.scenario)
    variants = all_variants(tuple(args.strategy or STRATEGIES), quick=args.quick)
    command = "statusagg bench" + (" --quick" if args.quick else "")
    if args.rounds:
        command += f" --rounds {args.rounds}"
    if args.seed:
        command += f" --seed {args.seed}"
    print("starting a local kube-apiserver ...", file=sys.stderr)
    total = steps(scenarios, variants, rounds, replicas)
    started = time.monotonic()
    with LocalAPIServer() as server, tqdm(total=total, unit="run") as bar:

        def done(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update()

        data = asyncio.run(
            run_suite(
                server.kubeconfig,
                sizes,
                scenarios,
                variants,
                command=command,
                rounds=rounds,
                seed=args.seed,
                apiserver_pid=server.pid,
                cores=cores(),
                replicas=replicas,
                replica_logs=args.out / "replica-logs",
                done=done,
            )
        )
    data["elapsed_s"] = round(time.monotonic() - started, 1)
    write(data, args.out)
    print(
        f"wrote {args.out}/bench.json, bench.md, {', '.join(pictures(data))} "
        f"in {data['elapsed_s'] / 60:.1f} min",
        file=sys.stderr,
    )
    for failure in data["ci_failures"]:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if data["ci_failures"] else 0
