"""Raw-JSON Kubernetes API requests over aiohttp: no typed models on the hot path."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import orjson

from aggregator.kube.config import ClusterAccess
from aggregator.kube.ratelimit import TokenBucket
from aggregator.kube.resources import ResourceType, discovery_path, split_api_version
from aggregator.metrics import Metrics

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
TOO_MANY_REQUESTS = 429
UNAUTHORIZED = 401
APPLY_PATCH = "application/apply-patch+yaml"

Obj = dict[str, Any]


class ApiError(Exception):
    """A non-2xx answer from the API server."""

    def __init__(self, status: int, body: Mapping[str, Any] | str) -> None:
        self.status = status
        self.body = body
        if isinstance(body, Mapping):
            self.reason = str(body.get("reason", ""))
            message = str(body.get("message", ""))
        else:
            self.reason = ""
            message = body[:500]
        super().__init__(f"HTTP {status} {self.reason}: {message}".strip())


class Conflict(ApiError):
    """409: the resourceVersion precondition failed."""


class NotFound(ApiError):
    """404."""


class Gone(ApiError):
    """410: the requested resourceVersion is too old (compacted)."""


_ERRORS: dict[int, type[ApiError]] = {409: Conflict, 404: NotFound, 410: Gone}


def api_error(status: int, body: Mapping[str, Any] | str) -> ApiError:
    return _ERRORS.get(status, ApiError)(status, body)


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date), or None."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class KubeClient:
    """One connection pool to one API server, with a QPS limit and request metrics.

    A 429 with ``Retry-After`` is retried after the delay it asks for (at most
    ``retry_after_max_s`` each time, at most ``throttle_retries`` times), as client-go does.
    """

    def __init__(
        self,
        access: ClusterAccess,
        *,
        qps: float = 200.0,
        burst: int = 400,
        timeout_s: float = 30.0,
        metrics: Metrics | None = None,
        user_agent: str = "statusagg",
        throttle_retries: int = 10,
        retry_after_max_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.access = access
        self.throttle_retries = throttle_retries
        self.retry_after_max_s = retry_after_max_s
        self._sleep = sleep
        self.metrics = metrics
        self._limiter = TokenBucket(qps, burst)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._user_agent = user_agent
        self._session: aiohttp.ClientSession | None = None
        self._types: dict[tuple[str, str], ResourceType] = {}

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, ssl=self.access.ssl_context),
                read_bufsize=4 * 1024 * 1024,
                json_serialize=lambda value: orjson.dumps(value).decode(),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _transport(self) -> dict[str, Any]:
        """Per-request options from the kubeconfig: proxy-url and tls-server-name."""
        options: dict[str, Any] = {}
        if self.access.proxy:
            options["proxy"] = self.access.proxy
        if self.access.tls_server_name:
            options["server_hostname"] = self.access.tls_server_name
        return options

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": JSON, "User-Agent": self._user_agent}
        authorization = await self.access.credentials.header()
        if authorization:
            headers["Authorization"] = authorization
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _count(self, verb: str, code: int | str) -> None:
        if self.metrics is not None:
            self.metrics.api_requests.labels(verb=verb, code=str(code)).inc()

    async def request(
        self,
        method: str,
        path: str,
        *,
        verb: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = JSON,
    ) -> Obj:
        """Send one request; return the decoded JSON object or raise ApiError."""
        data = None if body is None else (body if isinstance(body, str) else orjson.dumps(body))
        attempt = 0
        while True:
            await self._limiter.acquire()
            headers = await self._headers(content_type if body is not None else None)
            try:
                async with self._get_session().request(
                    method,
                    self.access.server + path,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self._timeout,
                    **self._transport(),
                ) as response:
                    raw = await response.read()
            except (TimeoutError, aiohttp.ClientError):
                self._count(verb, "error")
                raise
            self._count(verb, response.status)
            if response.status == UNAUTHORIZED:
                self.access.credentials.invalidate()
            wait = retry_after_s(response.headers.get("Retry-After"))
            if response.status != TOO_MANY_REQUESTS or wait is None:
                break
            if attempt >= self.throttle_retries:
                break
            attempt += 1
            await self._sleep(min(wait, self.retry_after_max_s))
        try:
            decoded: Any = orjson.loads(raw) if raw else {}
        except ValueError:
            decoded = raw.decode(errors="replace")
        if response.status >= 400:
            raise api_error(response.status, decoded)
        if not isinstance(decoded, dict):
            raise ApiError(response.status, f"unexpected non-object answer: {str(decoded)[:200]}")
        return decoded

    async def get_text(self, path: str) -> str:
        """GET a non-JSON endpoint such as /metrics."""
        await self._limiter.acquire()
        headers = await self._headers(None)
        headers["Accept"] = "text/plain"
        async with self._get_session().get(
            self.access.server + path, headers=headers, timeout=self._timeout, **self._transport()
        ) as response:
            text = await response.text()
        if response.status >= 400:
            raise api_error(response.status, text)
        return text

    async def resource_type(self, api_version: str, kind: str) -> ResourceType:
        """Resolve a kind to its resource through discovery (cached per client)."""
        key = (api_version, kind)
        if key in self._types:
            return self._types[key]
        listing = await self.request("GET", discovery_path(api_version), verb="discovery")
        group, version = split_api_version(api_version)
        for resource in listing.get("resources", []):
            if resource.get("kind") == kind and "/" not in resource.get("name", "/"):
                found = ResourceType(
                    group, version, kind, resource["name"], bool(resource.get("namespaced"))
                )
                self._types[key] = found
                return found
        raise NotFound(
            404, {"reason": "NotFound", "message": f"no resource for {api_version} {kind}"}
        )

    async def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        return await self.request("GET", rt.object_path(namespace, name), verb="get")

    async def create(self, rt: ResourceType, obj: Mapping[str, Any]) -> Obj:
        namespace = obj.get("metadata", {}).get("namespace")
        return await self.request("POST", rt.collection_path(namespace), verb="create", body=obj)

    async def replace(self, rt: ResourceType, obj: Mapping[str, Any]) -> Obj:
        meta = obj["metadata"]
        path = rt.object_path(meta.get("namespace"), meta["name"])
        return await self.request("PUT", path, verb="update", body=obj)

    async def delete(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        return await self.request("DELETE", rt.object_path(namespace, name), verb="delete")

    async def replace_status(
        self, rt: ResourceType, obj: Mapping[str, Any], params: Mapping[str, str] | None = None
    ) -> Obj:
        """PUT /status; the object's resourceVersion is the optimistic-concurrency precondition."""
        meta = obj["metadata"]
        path = rt.object_path(meta.get("namespace"), meta["name"]) + "/status"
        return await self.request("PUT", path, verb="update", body=obj, params=params)

    async def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        patch: Any,
        *,
        content_type: str = MERGE_PATCH,
        subresource: str = "",
        params: Mapping[str, str] | None = None,
    ) -> Obj:
        path = rt.object_path(namespace, name) + (f"/{subresource}" if subresource else "")
        return await self.request(
            "PATCH", path, verb="patch", body=patch, content_type=content_type, params=params
        )

    async def list(self, rt: ResourceType, namespace: str | None = None, **params: str) -> Obj:
        return await self.request("GET", rt.collection_path(namespace), verb="list", params=params)

    async def watch(
        self,
        rt: ResourceType,
        resource_version: str,
        *,
        namespace: str | None = None,
        timeout_seconds: int = 300,
        read_timeout_s: float = 70.0,
        send_initial_events: bool = False,
        label_selector: str = "",
    ) -> AsyncIterator[Obj]:
        """Yield decoded watch events; see ``watch_lines``."""
        async for line in self.watch_lines(
            rt,
            resource_version,
            namespace=namespace,
            timeout_seconds=timeout_seconds,
            read_timeout_s=read_timeout_s,
            send_initial_events=send_initial_events,
            label_selector=label_selector,
        ):
            yield orjson.loads(line)

    async def watch_lines(
        self,
        rt: ResourceType,
        resource_version: str,
        *,
        namespace: str | None = None,
        timeout_seconds: int = 300,
        read_timeout_s: float = 70.0,
        send_initial_events: bool = False,
        label_selector: str = "",
    ) -> AsyncIterator[bytes]:
        """Yield watch events (with bookmarks), one JSON line each, not decoded, from
        ``resource_version`` until the server ends the watch.

        ``read_timeout_s`` bounds the silence between lines: bookmarks arrive about once a
        minute, so a longer silence means a dead connection and raises ``asyncio.TimeoutError``.
        """
        await self._limiter.acquire()
        params = {
            "watch": "1",
            "allowWatchBookmarks": "true",
            "resourceVersion": resource_version,
            "timeoutSeconds": str(timeout_seconds),
        }
        if label_selector:
            params["labelSelector"] = label_selector
        if send_initial_events:
            params["sendInitialEvents"] = "true"
            params["resourceVersionMatch"] = "NotOlderThan"
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=read_timeout_s)
        async with self._get_session().get(
            self.access.server + rt.collection_path(namespace),
            params=params,
            headers=await self._headers(None),
            timeout=timeout,
            **self._transport(),
        ) as response:
            self._count("watch", response.status)
            if response.status >= 400:
                raw = await response.read()
                try:
                    raise api_error(response.status, orjson.loads(raw))
                except ValueError:
                    raise api_error(response.status, raw.decode(errors="replace")) from None
            async for line in response.content:
                if line.strip():
                    yield line
