"""YAML reading that matches Kubernetes tooling: timestamps stay strings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import yaml

_Base: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """SafeLoader without the implicit timestamp type (Go's YAML-to-JSON keeps them strings)."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_all(text: str) -> Iterator[Any]:
    """Every document of a (multi-document) YAML or JSON text."""
    return yaml.load_all(text, Loader=_Loader)


def load(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)
