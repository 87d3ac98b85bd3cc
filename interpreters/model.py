"""Shared types: operations, hook signatures and the registry's description rows."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

JSONObject = dict[str, Any]
Item = Mapping[str, Any]
Target = tuple[str, str]
"""An (apiVersion, kind) pair, e.g. ("apps/v1", "Deployment")."""

AggregateFn = Callable[[JSONObject, Sequence[Item]], JSONObject]
ReflectFn = Callable[[JSONObject], "JSONObject | None"]
HealthFn = Callable[[JSONObject], bool]


class Operation(enum.StrEnum):
    """The three interpreter operations statusagg runs."""

    AGGREGATE = "aggregate"
    REFLECT = "reflect"
    HEALTH = "health"


class Layer(enum.StrEnum):
    """Where a hook comes from, highest precedence first."""

    LUA = "customization"  # ResourceInterpreterCustomizations (files and live objects)
    WEBHOOK = "webhook"  # ResourceInterpreterWebhookConfigurations
    PLUGIN = "plugin"
    BUILTIN = "native"


@dataclass(frozen=True, slots=True)
class HookInfo:
    """One row of `Registry.describe()`: which layer serves an operation for a kind."""

    api_version: str
    kind: str
    operation: Operation
    layer: Layer
    source: str


@dataclass(frozen=True, slots=True)
class Hooks:
    """The hooks one layer offers for one (apiVersion, kind)."""

    aggregate: AggregateFn | None = None
    reflect: ReflectFn | None = None
    health: HealthFn | None = None


AsyncAggregateFn = Callable[[JSONObject, Sequence[Item]], Awaitable[JSONObject]]


@dataclass(frozen=True, slots=True)
class RemoteHook:
    """An operation served outside the process (an interpreter webhook): ``aggregate`` is
    awaited on the event loop; ``reflect`` and ``health`` block their caller, which must not be
    the event loop, until the answer or the webhook's timeout. One of them is set."""

    source: str
    aggregate: AsyncAggregateFn | None = None
    reflect: ReflectFn | None = None
    health: HealthFn | None = None


class RemoteLayer(Protocol):
    """Hooks matched by rules rather than by exact kind: the interpreter webhooks."""

    def find(self, target: Target, operation: Operation) -> RemoteHook | None:
        """The hook serving ``operation`` for ``target``, or None."""
        ...

    def rules(self) -> list[HookInfo]:
        """One row per (apiVersion, kind, operation) a rule names; ``*`` for wildcards."""
        ...
