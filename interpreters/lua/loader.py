"""Load ResourceInterpreterCustomization (RIC) documents and merge them per target.

Several RICs for the same target are merged as Karmada does: sorted by
`metadata.name`, the first non-empty script of each operation wins.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from lupa import lua51

from ..errors import CustomizationLoadError
from ..model import Operation, Target
from ..yamlio import load_all

API_VERSION = "config.karmada.io/v1alpha1"
KIND = "ResourceInterpreterCustomization"
FIELDS: Mapping[Operation, tuple[str, str]] = {
    Operation.AGGREGATE: ("statusAggregation", "AggregateStatus"),
    Operation.REFLECT: ("statusReflection", "ReflectStatus"),
    Operation.HEALTH: ("healthInterpretation", "InterpretHealth"),
}
_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True, slots=True)
class Script:
    """One operation's Lua script and where it came from."""

    operation: Operation
    code: str
    customization: str
    path: str

    @property
    def field(self) -> str:
        return FIELDS[self.operation][0]

    @property
    def function(self) -> str:
        return FIELDS[self.operation][1]

    @property
    def origin(self) -> str:
        """`file (customization name)`, for messages and `describe()`."""
        return f"{self.path} ({self.customization})"


@dataclass(frozen=True, slots=True)
class Customization:
    """The merged scripts for one (apiVersion, kind)."""

    target: Target
    scripts: Mapping[Operation, Script]


@dataclass(frozen=True, slots=True)
class Document:
    """One ResourceInterpreterCustomization: its name, target and scripts."""

    name: str
    target: Target
    scripts: Mapping[Operation, Script]


def load_customizations(paths: Sequence[str | os.PathLike[str]]) -> list[Customization]:
    """Read RIC files and directories and merge them per target."""
    return merge_documents(load_documents(paths))


def load_documents(paths: Sequence[str | os.PathLike[str]]) -> list[Document]:
    """Read RIC files and directories; every script is compiled to catch syntax errors early."""
    documents = [document for path in paths for document in _read(Path(path))]
    checker = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    for document in documents:
        for script in document.scripts.values():
            _check_syntax(checker, script)
    return documents


def parse_object(obj: Mapping[str, Any], origin: str) -> Document:
    """A RIC object read from an API server; ``origin`` names it in messages."""
    document = _parse(dict(obj), origin, 1)
    checker = lua51.LuaRuntime(register_eval=False, register_builtins=False)
    for script in document.scripts.values():
        _check_syntax(checker, script)
    return document


def merge_documents(documents: Sequence[Document]) -> list[Customization]:
    """Karmada's merge: by target, documents sorted by name, the first script of each operation."""
    merged: dict[Target, dict[Operation, Script]] = {}
    for document in sorted(documents, key=lambda document: document.name):
        scripts = merged.setdefault(document.target, {})
        for operation, script in document.scripts.items():
            scripts.setdefault(operation, script)
    return [Customization(target, scripts) for target, scripts in merged.items() if scripts]


def _read(path: Path) -> Iterator[Document]:
    if path.is_dir():
        # hidden entries are skipped: a mounted ConfigMap keeps a second copy in "..<timestamp>"
        files = (
            p
            for p in path.rglob("*")
            if p.suffix in _SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        for file in sorted(files):
            yield from _read_file(file, strict=False)
    elif path.is_file():
        yield from _read_file(path, strict=True)
    else:
        raise CustomizationLoadError(f"{path}: no such file or directory")


def _read_file(path: Path, *, strict: bool) -> Iterator[Document]:
    """RIC documents of a file; other documents fail when `strict`, else are skipped."""
    try:
        text = path.read_text(encoding="utf-8")
        if not strict and KIND not in text:
            return
        documents = list(load_all(text))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise CustomizationLoadError(f"{path}: cannot read YAML: {error}") from error
    for index, document in enumerate(documents, start=1):
        if document is None:
            continue
        if isinstance(document, dict) and document.get("kind") == KIND:
            yield _parse(document, f"{path}", index)
        elif strict:
            kind = document.get("kind") if isinstance(document, dict) else type(document).__name__
            raise CustomizationLoadError(
                f"{path}: document {index} is not a {KIND} (kind {kind!r})"
            )


def _parse(document: dict[str, Any], path: str, index: int) -> Document:
    where = f"{path}: document {index}"
    if document.get("apiVersion") != API_VERSION:
        raise CustomizationLoadError(
            f"{where}: apiVersion must be {API_VERSION}, got {document.get('apiVersion')!r}"
        )
    metadata = _mapping(document.get("metadata"), f"{where}: metadata")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise CustomizationLoadError(f"{where}: metadata.name is required")
    where = f"{path}: {KIND} {name!r}"
    spec = _mapping(document.get("spec"), f"{where}: spec")
    target = _mapping(spec.get("target"), f"{where}: spec.target")
    api_version, kind = target.get("apiVersion"), target.get("kind")
    if not isinstance(api_version, str) or not api_version or not isinstance(kind, str) or not kind:
        raise CustomizationLoadError(f"{where}: spec.target needs apiVersion and kind")
    customizations = _mapping(spec.get("customizations"), f"{where}: spec.customizations")
    scripts = {}
    for operation, (field, _) in FIELDS.items():
        rule = _mapping(customizations.get(field), f"{where}: spec.customizations.{field}")
        code = rule.get("luaScript")
        if code is None or code == "":
            continue
        if not isinstance(code, str):
            raise CustomizationLoadError(f"{where}: {field}.luaScript must be a string")
        scripts[operation] = Script(operation, code, name, path)
    return Document(name, (api_version, kind), scripts)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CustomizationLoadError(f"{where} must be an object")
    return value


def _check_syntax(checker: lua51.LuaRuntime, script: Script) -> None:
    try:
        checker.compile(script.code, name=f"={script.customization}.{script.field}")
    except lua51.LuaSyntaxError as error:
        raise CustomizationLoadError(
            f"{script.path}: {KIND} {script.customization!r} {script.field}: "
            f"Lua does not compile: {error}"
        ) from error
