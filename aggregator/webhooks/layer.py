"""The registry's webhook layer: of the webhooks matching a kind and operation, the first by
``configuration/name`` serves it, as in Karmada.

The service's layer serves AggregateStatus, awaited on its event loop. An agent's layer serves
InterpretStatus and InterpretHealth, which the registry calls from the agent's reflecting
thread: each call runs on the agent's event loop and the thread waits for it, at most the
webhook's timeout and a margin, so the loop and its endpoints stay free meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from aggregator.webhooks.calls import WebhookCalls
from aggregator.webhooks.config import WILDCARD, Webhook
from interpreters import (
    HookInfo,
    InterpreterError,
    InterpreterUnavailable,
    Layer,
    Operation,
    RemoteHook,
    Target,
)

MEMBER_OPERATIONS = frozenset({Operation.REFLECT, Operation.HEALTH})
WAIT_MARGIN_S = 5.0  # beyond the webhook's timeout, for decoding the answer

_T = TypeVar("_T")


class WebhookLayer:
    """Serves ``operations`` for the kinds the ``webhooks`` match; ``loop`` runs the calls of
    the blocking operations (reflect, health)."""

    def __init__(
        self,
        webhooks: Sequence[Webhook],
        calls: WebhookCalls,
        operations: Iterable[Operation] = (Operation.AGGREGATE,),
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.webhooks = sorted(webhooks, key=lambda webhook: webhook.uid)
        self.operations = frozenset(operations)
        if self.operations & MEMBER_OPERATIONS and loop is None:
            raise ValueError("reflect and health webhooks need the event loop to call them on")
        self._calls = calls
        self._loop = loop

    def serving(self, target: Target, operation: Operation) -> Webhook | None:
        if operation not in self.operations:
            return None
        return next((w for w in self.webhooks if w.matches(target, operation)), None)

    def differs(self, other: WebhookLayer, target: Target) -> bool:
        """Whether another webhook (or none) serves one of this layer's operations for
        ``target`` in ``other``."""
        return any(
            self.serving(target, operation) != other.serving(target, operation)
            for operation in self.operations
        )

    def find(self, target: Target, operation: Operation) -> RemoteHook | None:
        webhook = self.serving(target, operation)
        if webhook is None:
            return None
        calls = self._calls
        if operation is Operation.AGGREGATE:

            async def aggregate(template: dict[str, Any], items: Sequence[Any]) -> dict[str, Any]:
                return await calls.aggregate(webhook, template, items)

            return RemoteHook(webhook.label, aggregate=aggregate)
        if operation is Operation.REFLECT:

            def reflect(obj: dict[str, Any]) -> dict[str, Any] | None:
                return self._wait(webhook, calls.reflect(webhook, obj))

            return RemoteHook(webhook.label, reflect=reflect)

        def health(obj: dict[str, Any]) -> bool:
            return self._wait(webhook, calls.health(webhook, obj))

        return RemoteHook(webhook.label, health=health)

    def _wait(self, webhook: Webhook, call: Coroutine[Any, Any, _T]) -> _T:
        """Run ``call`` on the layer's loop and wait for it from this (another) thread."""
        assert self._loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            call.close()
            raise InterpreterError(f"{webhook.label}: called on the event loop it runs on")
        future = asyncio.run_coroutine_threadsafe(call, self._loop)
        try:
            return future.result(webhook.timeout_s + WAIT_MARGIN_S)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise InterpreterUnavailable(
                f"{webhook.label}: no answer within {webhook.timeout_s:g}s"
            ) from exc

    def rules(self) -> list[HookInfo]:
        rows = {
            (api_version, kind, operation, webhook.label)
            for webhook in self.webhooks
            for operation in self.operations
            for api_version, kind in webhook.named_targets(operation)
        }
        return [
            HookInfo(api_version, kind, operation, Layer.WEBHOOK, label)
            for api_version, kind, operation, label in sorted(rows)
        ]


def member_targets(webhooks: Iterable[Webhook]) -> set[Target]:
    """The kinds that ``webhooks`` name by exact group, version and kind for reflect or health:
    the kinds agents watch for them (rules with ``*`` name no kind to watch)."""
    return {
        target
        for webhook in webhooks
        for operation in MEMBER_OPERATIONS
        for target in webhook.named_targets(operation)
        if WILDCARD not in target[0] and target[1] != WILDCARD
    }
