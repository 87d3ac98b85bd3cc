"""Fixtures for the interpreter tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from interpreters import LuaSettings, Registry, build_registry

ANNOTATION = "resourcetemplate.karmada.io/generation"


def make_object(
    api_version: str,
    kind: str,
    *,
    generation: int | None = 1,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    template_generation: str | None = None,
) -> dict[str, Any]:
    """A minimal object; `template_generation` sets the Karmada template-generation annotation."""
    metadata: dict[str, Any] = {"name": "demo", "namespace": "default"}
    if generation is not None:
        metadata["generation"] = generation
    if template_generation is not None:
        metadata["annotations"] = {ANNOTATION: template_generation}
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "metadata": metadata}
    if spec is not None:
        obj["spec"] = spec
    if status is not None:
        obj["status"] = status
    return obj


def make_item(
    cluster: str, status: dict[str, Any] | None = None, *, applied: bool = True
) -> dict[str, Any]:
    """An AggregatedStatusItem; a not-applied item carries no status, as Karmada builds it."""
    item: dict[str, Any] = {"clusterName": cluster, "applied": applied}
    if not applied:
        item["appliedMessage"] = "Failed to apply all manifests (0/1): boom"
        item["health"] = "Unknown"
    elif status is not None:
        item["status"] = status
        item["health"] = "Healthy"
    return item


@pytest.fixture(scope="session")
def registry() -> Registry:
    """Built-ins only: no plugins, no customizations."""
    return build_registry(load_plugins=False)


@pytest.fixture
def new_object() -> Callable[..., dict[str, Any]]:
    return make_object


@pytest.fixture
def new_item() -> Callable[..., dict[str, Any]]:
    return make_item


def ric_yaml(
    *,
    name: str = "widget",
    api_version: str = "example.io/v1",
    kind: str = "Widget",
    **scripts: str,
) -> str:
    """A ResourceInterpreterCustomization document; keyword names are customization fields."""
    lines = [
        "apiVersion: config.karmada.io/v1alpha1",
        "kind: ResourceInterpreterCustomization",
        f"metadata: {{name: {name}}}",
        "spec:",
        f"  target: {{apiVersion: {api_version}, kind: {kind}}}",
        "  customizations:",
    ]
    for field, script in scripts.items():
        lines += [f"    {field}:", "      luaScript: |"]
        lines += [f"        {line}" for line in script.strip().splitlines()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def write_ric(tmp_path: Path) -> Callable[..., Path]:
    """Write one or more RIC documents to a file and return its path."""
    counter = iter(range(1000))

    def write(*documents: str) -> Path:
        path = tmp_path / f"ric-{next(counter)}.yaml"
        path.write_text("---\n".join(documents))
        return path

    return write


@pytest.fixture
def ric() -> Callable[..., str]:
    return ric_yaml


@pytest.fixture
def lua_registry(write_ric: Callable[..., Path]) -> Iterator[Callable[..., Registry]]:
    """A registry with one Widget customization built from the given scripts."""
    built: list[Registry] = []

    def build(
        *, timeout_s: float = 1.0, memory_mb: int = 64, workers: int = 2, **scripts: str
    ) -> Registry:
        registry = build_registry(
            [write_ric(ric_yaml(**scripts))],
            load_plugins=False,
            lua=LuaSettings(timeout_s=timeout_s, memory_mb=memory_mb, workers=workers),
        )
        built.append(registry)
        return registry

    yield build
    for registry in built:
        registry.close()
