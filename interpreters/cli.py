"""`statusagg interpret`: run interpreters locally, like `karmadactl interpret`.

Single mode prints the result of one operation on files; batch mode reads JSON
lines `{"op": ..., "object": {...}, "items": [...]}` from stdin and writes one
line per input, in order: `{"ok": true, "result": R}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import yaml

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
    parser.add_argument("--operation", choices=[str(op) for op in Operation])
    parser.add_argument("--object", type=Path, metavar="FILE", help="YAML or JSON object")
    parser.add_argument(
        "--items", type=Path, metavar="FILE", help="YAML or JSON list of AggregatedStatusItems"
    )
    parser.add_argument(
        "--customization",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="ResourceInterpreterCustomization file or directory (repeatable)",
    )
    parser.add_argument("--output", choices=("yaml", "json"), default="yaml")
    parser.add_argument(
        "--no-plugins", action="store_true", help="do not load installed Python plugins"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; returns the process exit code."""
    try:
        registry = build_registry(args.customization, load_plugins=not args.no_plugins)
    except InterpreterError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.list:
        _print_table(registry, sys.stdout)
        return EXIT_OK
    if args.batch:
        _run_batch(registry, sys.stdin, sys.stdout)
        return EXIT_OK
    return _run_single(registry, args)


def _run_single(registry: Registry, args: argparse.Namespace) -> int:
    if args.operation is None or args.object is None:
        print(
            "error: --operation and --object are required (or use --batch/--list)", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        obj = _read_object(args.object)
        items = _read_items(args.items) if args.items is not None else []
        result = _apply(registry, Operation(args.operation), obj, items)
    except (OSError, ValueError, RecursionError, yaml.YAMLError, InterpreterError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    if args.output == "json" or not isinstance(result, dict):
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


def _read_object(path: Path) -> Any:
    documents = [doc for doc in load_all(path.read_text(encoding="utf-8")) if doc is not None]
    if len(documents) != 1:
        raise InterpreterError(f"{path}: expected one document, found {len(documents)}")
    return documents[0]


def _read_items(path: Path) -> list[Any]:
    """A list of items in one document, or one item per document."""
    documents = [doc for doc in load_all(path.read_text(encoding="utf-8")) if doc is not None]
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
