"""The statusagg command line.

Every flag of serve, agent, get, demo and dev-apiserver can also be set as STATUSAGG_<FLAG>
(--write-mode is STATUSAGG_WRITE_MODE; repeatable flags take a comma-separated list). A bad flag,
variable or input file is one line on stderr and exit code 2, found before anything is started.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import cast

from aggregator.cli import agent, dev, get, serve
from aggregator.cli.options import EXIT_USAGE, Parser, UsageError
from aggregator.devcluster import DevClusterError
from aggregator.logsetup import configure_logging


def package_version() -> str:
    """The installed statusagg version."""
    try:
        return version("statusagg")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> Parser:
    """The parser of every subcommand."""
    from aggregator.bench import cli as bench_cli
    from interpreters import cli as interpret_cli

    parser = Parser(
        prog="statusagg", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"statusagg {package_version()}",
        help="print the version and exit",
    )
    sub = cast(
        "argparse._SubParsersAction[argparse.ArgumentParser]",
        parser.add_subparsers(dest="command", required=True, metavar="COMMAND"),
    )
    serve.add_parser(sub)
    dev.add_demo_parser(sub)
    agent.add_parser(sub)
    get.add_parser(sub)
    dev.add_dev_apiserver_parser(sub)
    interpret_cli.add_parser(sub)
    bench_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; its exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(getattr(args, "log_level", "info"), getattr(args, "log_format", "text"))
    prog = f"statusagg {args.command}"
    try:
        code: int = args.func(args)
    except UsageError as exc:
        print(f"{prog}: {exc} (see {prog} --help)", file=sys.stderr)
        return EXIT_USAGE
    except DevClusterError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
