"""`statusagg interpret --check`: every problem of every customization document.

The report has karmadactl's shape: per document a separator, `SOURCE:` (the
customization's name, else the file), `TARGET:` and one line per rule with
`PASS`, `UNSET` or `ERROR: ...`. Unlike karmadactl it goes on after a document's
first problem, so one run lists everything to fix.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from lupa import lua51

from .karmadactl import RULES
from .lua.loader import API_VERSION, KIND
from .tabwriter import align
from .yamlio import load_all

SEPARATOR = "-" * 35


@dataclass(frozen=True, slots=True)
class Source:
    """A file's text, or the error that prevented reading it."""

    name: str
    text: str | None = None
    error: str | None = None


def check(sources: Sequence[Source]) -> tuple[str, bool]:
    """The report and whether every document passed."""
    checker = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    lines: list[str] = []
    ok = True
    for source in sources:
        for document_lines, document_ok in _check_source(source, checker):
            lines += [SEPARATOR, *document_lines]
            ok = ok and document_ok
    return align("".join(f"{line}\n" for line in lines)), ok


def _check_source(source: Source, checker: lua51.LuaRuntime) -> Iterator[tuple[list[str], bool]]:
    if source.text is None:
        yield [f"SOURCE: {source.name}", str(source.error)], False
        return
    try:
        documents = [doc for doc in load_all(source.text) if doc is not None]
    except yaml.YAMLError as error:
        yield [f"SOURCE: {source.name}", f"error parsing {source.name}: {error}"], False
        return
    for document in documents:
        lines, ok = _check_document(document, checker)
        yield [f"SOURCE: {_name(document) or source.name}", *lines], ok


def _check_document(document: Any, checker: lua51.LuaRuntime) -> tuple[list[str], bool]:
    """The lines reporting one document and whether it passed."""
    if not isinstance(document, Mapping):
        return [f"not a {KIND}, got a {type(document).__name__}"], False
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if kind != KIND or api_version != API_VERSION:
        group, _, version = str(api_version or "").rpartition("/")
        return [f"not a {KIND}, got {group}/{version}, Kind={kind or ''}"], False
    spec = _mapping(document.get("spec"))
    target = _mapping(spec.get("target"))
    target_api_version, target_kind = target.get("apiVersion"), target.get("kind")
    problems = [] if _name(document) else ["metadata.name no set"]
    if not target_kind or not isinstance(target_kind, str):
        problems.append("target.kind no set")
    if not target_api_version or not isinstance(target_api_version, str):
        problems.append("target.apiVersion no set")
    lines = problems or [f"TARGET: {target_api_version} {target_kind}\t"]
    lines.append("RULERS:")
    ok = not problems
    customizations = _mapping(spec.get("customizations"))
    for operation, field in RULES:
        result, rule_ok = _check_rule(customizations.get(field), field, checker)
        lines.append(f"    {operation}:\t{result}")
        ok = ok and rule_ok
    return lines, ok


def _check_rule(rule: Any, field: str, checker: lua51.LuaRuntime) -> tuple[str, bool]:
    if rule is None:
        return "UNSET", True
    if not isinstance(rule, Mapping):
        return f"ERROR: {field} must be an object\t", False
    script = rule.get("luaScript")
    if script is None or script == "":
        return "UNSET", True
    if not isinstance(script, str):
        return f"ERROR: {field}.luaScript must be a string\t", False
    try:
        checker.compile(script, name=f"={field}")
    except lua51.LuaSyntaxError as error:
        return f"ERROR: {str(error).strip()}\t", False
    return "PASS", True


def _name(document: Any) -> str:
    if not isinstance(document, Mapping):
        return ""
    name = _mapping(document.get("metadata")).get("name")
    return name if isinstance(name, str) else ""


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
