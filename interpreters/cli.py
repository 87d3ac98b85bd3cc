"""`statusagg interpret`: run interpreters locally; a drop-in for `karmadactl interpret`.

Single mode prints the result of one operation on files (`-` reads stdin). With
karmadactl's flags (`-f`, `--desired-file`/`--observed-file`, `--status-file`) only
the customizations given with `-f` run and the output has karmadactl's shape.
`--check` reports every problem of every customization document, `--test` runs the
test cases shipped beside customizations. Batch mode reads JSON lines
`{"op": ..., "object": {...}, "items": [...]}` from stdin and writes one line per
input, in order: `{"ok": true, "result": R}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import yaml

from . import check, karmadactl, testrunner
from .errors import InterpreterError
from .model import Operation
from .registry import Registry, build_registry
from .yamlio import load_all

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the `interpret` subcommand."""
    parser = subparsers.add_parser(
        "interpret",
        help="run an interpreter operation locally",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--batch", action="store_true", help="read JSON lines from stdin")
    mode.add_argument("--list", action="store_true", help="list which layer serves which kind")
    mode.add_argument(
        "--check", action="store_true", help="validate the customizations given with -f"
    )
    mode.add_argument(
        "--test",
        type=Path,
        action="append",
        metavar="DIR",
        help="run the test cases of the customizations in or under DIR (repeatable)",
    )
    parser.add_argument(
        "--operation",
        metavar="OPERATION",
        help="aggregate, reflect, health or karmadactl's AggregateStatus, InterpretStatus, "
        "InterpretHealth (any case)",
    )
    parser.add_argument("--object", metavar="FILE", help="YAML or JSON object")
    parser.add_argument("--desired-file", metavar="FILE", help="the object (karmadactl's flag)")
    parser.add_argument("--observed-file", metavar="FILE", help="the object (karmadactl's flag)")
    parser.add_argument(
        "--items",
        "--status-file",
        metavar="FILE",
        help="AggregatedStatusItems: a list, or one per YAML document",
    )
    parser.add_argument(
        "-f",
        "--filename",
        action="append",
        default=[],
        metavar="FILE",
        help="ResourceInterpreterCustomization file or directory; only these serve the "
        "operation, as in karmadactl (repeatable)",
    )
    parser.add_argument(
        "-R",
        "--recursive",
        action="store_true",
        help="accepted for karmadactl; directories are always read recursively",
    )
    parser.add_argument(
        "--customization",
        action="append",
        default=[],
        metavar="FILE",
        help="ResourceInterpreterCustomization file or directory (repeatable)",
    )
    parser.add_argument(
        "--output",
        choices=("yaml", "json", "karmadactl"),
        help="default: karmadactl with -f, --desired-file or --observed-file, else yaml",
    )
    parser.add_argument(
        "--no-plugins", action="store_true", help="do not load installed Python plugins"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the process exit code."""
    inputs = _Inputs()
    if args.check:
        return _run_check(args.filename + args.customization, inputs)
    if args.test:
        results = testrunner.run(args.test)
        testrunner.report(results, sys.stdout)
        failed = any(result.outcome is testrunner.Outcome.FAIL for result in results)
        return EXIT_FAILED if failed else EXIT_OK
    try:
        with inputs.paths(args.customization + args.filename) as customizations:
            registry = build_registry(customizations, load_plugins=not args.no_plugins)
    except (OSError, InterpreterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.list:
            _print_table(registry, sys.stdout)
            return EXIT_OK
        if args.batch:
            _run_batch(registry, sys.stdin, sys.stdout)
            return EXIT_OK
        return _run_single(registry, args, inputs)
    finally:
        registry.close()


def _run_check(paths: list[str], inputs: _Inputs) -> int:
    if not paths:
        print("error: --check needs -f FILE", file=sys.stderr)
        return EXIT_USAGE
    report, ok = check.check([source for path in paths for source in inputs.sources(path)])
    sys.stdout.write(report)
    return EXIT_OK if ok else EXIT_FAILED


def _run_single(registry: Registry, args: argparse.Namespace, inputs: _Inputs) -> int:
    objects = [
        path for path in (args.object, args.desired_file, args.observed_file) if path is not None
    ]
    if args.operation is None or not objects:
        print(
            "error: --operation and --object are required (--desired-file or --observed-file "
            "stand for --object; or use --batch, --list, --check or --test)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if len(objects) > 1:
        print("error: give only one of --object, --desired-file, --observed-file", file=sys.stderr)
        return EXIT_USAGE
    try:
        operation = karmadactl.parse_operation(args.operation)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    output = args.output or (
        "karmadactl" if args.filename or args.desired_file or args.observed_file else "yaml"
    )
    try:
        obj = _read_object(objects[0], inputs)
        items = _read_items(args.items, inputs) if args.items is not None else []
        if args.filename:
            result = karmadactl.run_customized(registry, operation, obj, items)
        else:
            result = _apply(registry, operation, obj, items)
    except (OSError, ValueError, RecursionError, yaml.YAMLError, InterpreterError) as error:
        if output == "karmadactl":
            sys.stderr.write(karmadactl.format_error(operation, error))
        else:
            print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    if output == "karmadactl":
        sys.stdout.write(karmadactl.format_result(operation, result))
    elif output == "json" or not isinstance(result, dict):
        print(json.dumps(result, indent=2))
    else:
        sys.stdout.write(yaml.safe_dump(result, sort_keys=False))
    return EXIT_OK


def _run_batch(registry: Registry, lines: TextIO, out: TextIO) -> None:
    for line in iter(lines.readline, ""):
        if not line.strip():
            continue
        try:
            response = {"ok": True, "result": _apply_request(registry, line)}
        except InterpreterError as error:
            response = {"ok": False, "error": str(error)}
        out.write(json.dumps(response, separators=(",", ":")) + "\n")
        out.flush()


def _apply_request(registry: Registry, line: str) -> Any:
    try:
        request = json.loads(line)
    except (ValueError, RecursionError) as error:
        raise InterpreterError(f"invalid JSON: {error}") from error
    if not isinstance(request, dict):
        raise InterpreterError("each line must be a JSON object")
    try:
        operation = Operation(str(request.get("op")))
    except ValueError as error:
        choices = ", ".join(str(op) for op in Operation)
        raise InterpreterError(f"op must be one of {choices}, got {request.get('op')!r}") from error
    items = request.get("items")
    if items is None:
        items = []
    if not isinstance(items, list):
        raise InterpreterError("items must be a list")
    return _apply(registry, operation, request.get("object"), items)


def _apply(registry: Registry, operation: Operation, obj: Any, items: list[Any]) -> Any:
    if not isinstance(obj, dict):
        raise InterpreterError("object must be a JSON object")
    if operation is Operation.AGGREGATE:
        return registry.aggregate(obj, items)
    if operation is Operation.REFLECT:
        return registry.reflect(obj)
    return registry.health(obj)


class _Inputs:
    """Reads files; `-` is stdin, which only one input may use."""

    def __init__(self) -> None:
        self._stdin_used = False

    def read(self, path: str) -> str:
        if path != "-":
            return Path(path).read_text(encoding="utf-8")
        if self._stdin_used:
            raise InterpreterError("only one input can be read from stdin (-)")
        self._stdin_used = True
        return sys.stdin.read()

    def sources(self, path: str) -> list[check.Source]:
        """The files of a path (a directory's YAML and JSON files, recursively) for --check."""
        files = [Path(path)]
        if path != "-" and files[0].is_dir():
            files = sorted(p for p in files[0].rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
        sources = []
        for file in files:
            name = "STDIN" if path == "-" else str(file)
            try:
                sources.append(check.Source(name, text=self.read(str(file))))
            except (OSError, UnicodeDecodeError, InterpreterError) as error:
                sources.append(check.Source(name, error=str(error)))
        return sources

    @contextmanager
    def paths(self, paths: list[str]) -> Iterator[list[str]]:
        """The paths, with `-` replaced by a temporary file holding stdin."""
        with tempfile.TemporaryDirectory() as directory:
            resolved = []
            for path in paths:
                if path == "-":
                    path = str(Path(directory) / "stdin.yaml")
                    Path(path).write_text(self.read("-"), encoding="utf-8")
                resolved.append(path)
            yield resolved


def _read_object(path: str, inputs: _Inputs) -> Any:
    documents = [doc for doc in load_all(inputs.read(path)) if doc is not None]
    if len(documents) != 1:
        raise InterpreterError(f"{path}: expected one document, found {len(documents)}")
    return documents[0]


def _read_items(path: str, inputs: _Inputs) -> list[Any]:
    """A list of items in one document, or one item per document."""
    documents = [doc for doc in load_all(inputs.read(path)) if doc is not None]
    if len(documents) == 1 and isinstance(documents[0], list):
        return documents[0]
    if all(isinstance(doc, Mapping) for doc in documents):
        return documents
    raise InterpreterError(f"{path}: expected a list of AggregatedStatusItems")


def _print_table(registry: Registry, out: TextIO) -> None:
    rows = [("APIVERSION", "KIND", "OPERATION", "LAYER", "SOURCE")]
    rows += [
        (row.api_version, row.kind, str(row.operation), str(row.layer), row.source)
        for row in registry.describe()
    ]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write("  ".join([*cells, row[4]]) + "\n")
