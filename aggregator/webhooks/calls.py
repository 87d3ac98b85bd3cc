"""One operation of one webhook: the ResourceInterpreterContext request, the HTTPS call, the
checked answer, and the outcome counted by configuration, operation and result.

A call that gets no usable answer raises InterpreterUnavailable when the same call may succeed
later (timeout, unreachable, TLS, HTTP error, busy) and InterpreterError otherwise (a bad or
oversized answer); both name the configuration, the webhook, the operation and the object.

A webhook that failed in a way that may pass (not ``busy``, which is this caller's own limit)
is paused: its calls fail at once, without a request, for a pause that doubles with each
failure in a row (``FIRST_PAUSE_S`` to ``MAX_PAUSE_S``); the first call after the pause goes
out, and a success ends the pauses. So a webhook that hangs costs its callers one timeout per
pause, not one per object, and the objects of other kinds are not held behind it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from prometheus_client import Counter

from aggregator.webhooks.client import CallFailed, CallFailure, WebhookClient
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
FIRST_PAUSE_S = 1.0
MAX_PAUSE_S = 60.0

_T = TypeVar("_T")

Failed = Callable[[Webhook, str, str], None]
"""Told of each failed call: the webhook, Karmada's operation name and the message."""


@dataclass
class _Pause:
    failures: int  # in a row
    until: float  # monotonic
    reason: str


class WebhookCalls:
    """Calls webhooks for the operations statusagg runs, over one ``WebhookClient``; ``counter``
    is labelled configuration, operation and result."""

    def __init__(
        self,
        counter: Counter,
        *,
        http: WebhookClient | None = None,
        on_failure: Failed | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.http = http or WebhookClient()
        self._counter = counter
        self._on_failure = on_failure
        self._clock = clock
        self._pauses: dict[str, _Pause] = {}  # by webhook uid

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
        pause = self._pauses.get(webhook.uid)
        if pause is not None and self._clock() < pause.until:
            self._counter.labels(webhook.configuration, name, "paused").inc()
            raise InterpreterUnavailable(
                f"{where}: not called for another {pause.until - self._clock():.1f}s after "
                f"{pause.failures} failed calls in a row (last: {pause.reason})"
            )
        uid = str(uuid.uuid4())
        try:
            body = await self.http.post(webhook, context_request(uid, name, obj, items))
            if len(body) > OFF_LOOP_BYTES:
                result = await asyncio.to_thread(answer, uid, body)
            else:
                result = answer(uid, body)
        except CallFailed as exc:
            self._failed(webhook, name, exc.failure.value, f"{where}: {exc}")
            if exc.retryable and exc.failure is not CallFailure.BUSY:
                self._pause(webhook, str(exc))
            error = InterpreterUnavailable if exc.retryable else InterpreterError
            raise error(f"{where}: {exc}") from exc
        except BadAnswer as exc:
            self._failed(webhook, name, "bad-answer", f"{where}: {exc}")
            raise InterpreterError(f"{where}: {exc}") from exc
        self._pauses.pop(webhook.uid, None)
        self._counter.labels(webhook.configuration, name, "ok").inc()
        return result

    def _pause(self, webhook: Webhook, reason: str) -> None:
        last = self._pauses.get(webhook.uid)
        failures = 1 if last is None else last.failures + 1
        pause_s = min(FIRST_PAUSE_S * 2.0 ** (failures - 1), MAX_PAUSE_S)
        self._pauses[webhook.uid] = _Pause(failures, self._clock() + pause_s, reason)

    def _failed(self, webhook: Webhook, operation: str, result: str, message: str) -> None:
        self._counter.labels(webhook.configuration, operation, result).inc()
        if self._on_failure is not None:
            self._on_failure(webhook, operation, message)
