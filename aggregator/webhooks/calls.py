"""One operation of one webhook: the ResourceInterpreterContext request, the HTTPS call, the
checked answer, and the outcome counted by configuration, operation and result.

A call that gets no usable answer raises InterpreterUnavailable when the same call may succeed
later (timeout, unreachable, TLS, HTTP error, busy) and InterpreterError otherwise (a bad or
oversized answer); both name the configuration, the webhook, the operation and the object.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from prometheus_client import Counter

from aggregator.webhooks.client import CallFailed, WebhookClient
from aggregator.webhooks.config import OPERATION_NAMES, Webhook
from aggregator.webhooks.protocol import (
    BadAnswer,
    aggregate_answer,
    context_request,
    health_answer,
    status_answer,
)
from interpreters import InterpreterError, InterpreterUnavailable, Operation
from interpreters.jsonutil import object_label

OFF_LOOP_BYTES = 64 * 1024  # answers this large are decoded in a worker thread

_T = TypeVar("_T")

Failed = Callable[[Webhook, str, str], None]
"""Told of each failed call: the webhook, Karmada's operation name and the message."""


class WebhookCalls:
    """Calls webhooks for the operations statusagg runs, over one ``WebhookClient``; ``counter``
    is labelled configuration, operation and result."""

    def __init__(
        self,
        counter: Counter,
        *,
        http: WebhookClient | None = None,
        on_failure: Failed | None = None,
    ) -> None:
        self.http = http or WebhookClient()
        self._counter = counter
        self._on_failure = on_failure

    async def close(self) -> None:
        await self.http.close()

    async def aggregate(
        self, webhook: Webhook, template: dict[str, Any], items: Sequence[Any]
    ) -> dict[str, Any]:
        """The template with the status ``webhook`` aggregated from ``items``."""

        def answer(uid: str, body: bytes) -> dict[str, Any]:
            return aggregate_answer(uid, template, body)

        return await self._call(webhook, Operation.AGGREGATE, template, items, answer)

    async def reflect(self, webhook: Webhook, obj: dict[str, Any]) -> dict[str, Any] | None:
        """The status ``webhook`` reflects from the member object ``obj`` (None: no status)."""
        return await self._call(webhook, Operation.REFLECT, obj, None, status_answer)

    async def health(self, webhook: Webhook, obj: dict[str, Any]) -> bool:
        """Whether ``webhook`` judges the member object ``obj`` healthy."""
        return await self._call(webhook, Operation.HEALTH, obj, None, health_answer)

    async def _call(
        self,
        webhook: Webhook,
        operation: Operation,
        obj: Mapping[str, Any],
        items: Sequence[Any] | None,
        answer: Callable[[str, bytes], _T],
    ) -> _T:
        name = OPERATION_NAMES[operation]
        where = f"{webhook.label}: {name} {object_label(obj)}"
        uid = str(uuid.uuid4())
        try:
            body = await self.http.post(webhook, context_request(uid, name, obj, items))
            if len(body) > OFF_LOOP_BYTES:
                result = await asyncio.to_thread(answer, uid, body)
            else:
                result = answer(uid, body)
        except CallFailed as exc:
            self._failed(webhook, name, exc.failure.value, f"{where}: {exc}")
            error = InterpreterUnavailable if exc.retryable else InterpreterError
            raise error(f"{where}: {exc}") from exc
        except BadAnswer as exc:
            self._failed(webhook, name, "bad-answer", f"{where}: {exc}")
            raise InterpreterError(f"{where}: {exc}") from exc
        self._counter.labels(webhook.configuration, name, "ok").inc()
        return result

    def _failed(self, webhook: Webhook, operation: str, result: str, message: str) -> None:
        self._counter.labels(webhook.configuration, operation, result).inc()
        if self._on_failure is not None:
            self._on_failure(webhook, operation, message)
