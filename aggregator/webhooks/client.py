"""HTTPS calls to interpreter webhooks: per-call timeout, bounded answers, bounded concurrency."""

from __future__ import annotations

import asyncio
import enum
import json
from collections import Counter
from typing import Any

import aiohttp

from aggregator.webhooks.config import Webhook

MAX_ANSWER_BYTES = 4 * 1024 * 1024
MAX_IN_FLIGHT = 2  # calls per webhook; more fail fast so the workers stay free for other kinds
_CHUNK = 64 * 1024


class CallFailure(enum.StrEnum):
    """Why a call got no answer, as a fixed metric label."""

    BUSY = "busy"
    TIMEOUT = "timeout"
    TLS = "tls"
    UNREACHABLE = "unreachable"
    HTTP = "http-error"
    TOO_LARGE = "too-large"


class CallFailed(Exception):
    """A webhook gave no usable answer body."""

    def __init__(self, failure: CallFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure

    @property
    def retryable(self) -> bool:
        """Whether the same request may succeed later (an oversized answer will not)."""
        return self.failure is not CallFailure.TOO_LARGE


class WebhookClient:
    """One HTTP session for every webhook; a call returns the answer's bytes."""

    def __init__(
        self, *, max_answer_bytes: int = MAX_ANSWER_BYTES, max_in_flight: int = MAX_IN_FLIGHT
    ) -> None:
        self.max_answer_bytes = max_answer_bytes
        self.max_in_flight = max_in_flight
        self._session: aiohttp.ClientSession | None = None
        self._in_flight: Counter[str] = Counter()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def post(self, webhook: Webhook, request: dict[str, Any]) -> bytes:
        """POST ``request`` as JSON and return the body of a 200 answer.

        Raises CallFailed; never waits longer than the webhook's timeout."""
        if self._in_flight[webhook.uid] >= self.max_in_flight:
            raise CallFailed(
                CallFailure.BUSY, f"{self._in_flight[webhook.uid]} calls are already waiting"
            )
        self._in_flight[webhook.uid] += 1
        try:
            async with asyncio.timeout(webhook.timeout_s):
                # items may be large: encoding them must not hold the event loop
                body = await asyncio.to_thread(_encode, request)
                return await self._post(webhook, body)
        except TimeoutError as exc:
            raise CallFailed(
                CallFailure.TIMEOUT, f"no answer within {webhook.timeout_s:g}s"
            ) from exc
        except aiohttp.ClientSSLError as exc:
            raise CallFailed(CallFailure.TLS, f"TLS failed: {exc}") from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise CallFailed(CallFailure.UNREACHABLE, f"the call failed: {exc!r}") from exc
        finally:
            self._in_flight[webhook.uid] -= 1
            if not self._in_flight[webhook.uid]:
                del self._in_flight[webhook.uid]

    async def _post(self, webhook: Webhook, body: bytes) -> bytes:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0), trust_env=False
            )
        async with self._session.post(
            webhook.url,
            data=body,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
            ssl=webhook.ssl_context,
            allow_redirects=False,
        ) as response:
            answer = await self._read(response)
            if response.status != 200:
                text = answer[:200].decode("utf-8", "replace")
                raise CallFailed(CallFailure.HTTP, f"HTTP {response.status}: {text}")
            return answer

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        if response.content_length is not None and response.content_length > self.max_answer_bytes:
            raise self._too_large()
        answer = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            answer += chunk
            if len(answer) > self.max_answer_bytes:
                raise self._too_large()
        return bytes(answer)

    def _too_large(self) -> CallFailed:
        return CallFailed(
            CallFailure.TOO_LARGE, f"the answer is larger than {self.max_answer_bytes} bytes"
        )


def _encode(request: dict[str, Any]) -> bytes:
    return json.dumps(request, separators=(",", ":")).encode()
