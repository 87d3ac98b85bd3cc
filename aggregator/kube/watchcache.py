"""A list+watch cache of one resource type, keeping trimmed objects keyed by (namespace, name).

Objects only ever move forward: an event (or a relist) never replaces a cached object with one
of an older resourceVersion, and ``put`` lets a writer store the object its write returned at
once (write-through), so a skip is always judged against our own latest write or newer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import orjson

from aggregator.kube.client import Gone, KubeClient, Obj
from aggregator.kube.resources import ResourceType
from aggregator.metrics import Metrics

log = logging.getLogger(__name__)

ObjectKey = tuple[str, str]
# the start of a MODIFIED event of a namespaced object as the API server encodes it: type, then
# the object's kind, apiVersion and metadata, whose name, namespace, uid and resourceVersion come
# first (names and numbers hold no quote, so nothing earlier can look like these keys)
_HEAD = re.compile(
    rb'\{"type":"MODIFIED","object":\{"kind":"[^"]*","apiVersion":"[^"]*",'
    rb'"metadata":\{"name":"(?P<name>[^"\\]+)","namespace":"(?P<namespace>[^"\\]+)",'
    rb'"uid":"[^"\\]*","resourceVersion":"(?P<rv>[0-9]+)"'
)
ChangeHandler = Callable[[ObjectKey, Obj | None], None]


def object_key(obj: Obj) -> ObjectKey:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def resource_version_of(obj: Obj | None) -> int:
    """resourceVersion as an integer (etcd revisions); unparsable or missing counts as 0."""
    if obj is None:
        return 0
    try:
        return int(obj["metadata"].get("resourceVersion", 0))
    except (TypeError, ValueError):
        return 0


def trim(obj: Obj) -> Obj:
    """Drop what the service never reads (managedFields) to keep the cache small."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        meta = dict(meta)
        del meta["managedFields"]
        obj = {**obj, "metadata": meta}
    return obj


class WatchCache:
    """Keeps every object of one type current; calls ``on_change`` after each applied change.

    ``on_change`` gets the cached (trimmed) object, or with ``notify_untrimmed`` the object as
    the server sent it, managedFields included."""

    def __init__(
        self,
        client: KubeClient,
        resource_type: ResourceType,
        on_change: ChangeHandler,
        *,
        read_timeout_s: float = 70.0,
        watch_timeout_s: int = 300,
        label_selector: str = "",
        namespace: str | None = None,
        metrics: Metrics | None = None,
        notify_untrimmed: bool = False,
    ) -> None:
        self.client = client
        self._notify_untrimmed = notify_untrimmed
        self.resource_type = resource_type
        self._on_change = on_change
        self._read_timeout_s = read_timeout_s
        self._watch_timeout_s = watch_timeout_s
        self._metrics = metrics
        self._label_selector = label_selector
        self._namespace = namespace
        self._objects: dict[ObjectKey, Obj] = {}
        self._deleted_rv: dict[ObjectKey, int] = {}
        self._synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.last_resource_version = ""
        self.known_events = 0  # events not decoded: the cache already held their version

    def __len__(self) -> int:
        return len(self._objects)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def objects(self) -> list[Obj]:
        return list(self._objects.values())

    def get(self, key: ObjectKey) -> Obj | None:
        return self._objects.get(key)

    def put(self, obj: Obj) -> bool:
        """Store ``obj`` unless the cache already holds a newer version; return whether stored."""
        key = object_key(obj)
        rv = resource_version_of(obj)
        current = self._objects.get(key)
        if current is not None and resource_version_of(current) >= rv:
            return False
        if current is None and self._deleted_rv.get(key, 0) >= rv:
            return False
        self._deleted_rv.pop(key, None)
        self._objects[key] = trim(obj)
        return True

    def _delete(self, obj: Obj) -> bool:
        key = object_key(obj)
        current = self._objects.get(key)
        rv = resource_version_of(obj)
        if current is None or resource_version_of(current) > rv:
            return False
        del self._objects[key]
        self._deleted_rv[key] = rv
        return True

    async def start(self) -> None:
        """Start the list+watch loop and wait for the first list."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"watch {self.resource_type.plural}")
        waiter = asyncio.ensure_future(self._synced.wait())
        done, _ = await asyncio.wait({waiter, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if self._task in done:
            waiter.cancel()
            self._task.result()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _restarted(self, reason: str) -> None:
        if self._metrics is not None:
            self._metrics.watch_restarts.labels(reason=reason).inc()

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._relist()
                backoff = 0.1
                while True:
                    try:
                        await self._watch_once()
                        backoff = 0.1
                    except TimeoutError:
                        # Silence past the read timeout: the connection may be dead. Resume
                        # from the last resourceVersion; only 410 Gone needs a relist.
                        self._restarted("read-timeout")
                    except (aiohttp.ClientError, ConnectionError) as exc:
                        # A broken connection loses no events: resume where it stopped.
                        self._restarted("connection")
                        log.info(
                            "watch of %s broke (%s); resuming in %.1fs",
                            self.resource_type.plural,
                            exc,
                            backoff,
                        )
                        await asyncio.sleep(backoff)
                        backoff = min(backoff * 2, 10.0)
            except Gone:
                self._restarted("gone")
                log.info("watch of %s expired (410 Gone); relisting", self.resource_type.plural)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._restarted("error")
                log.warning(
                    "watch of %s failed: %s; retrying in %.1fs",
                    self.resource_type.plural,
                    exc,
                    backoff,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _relist(self) -> None:
        selector = {"labelSelector": self._label_selector} if self._label_selector else {}
        listing = await self.client.list(self.resource_type, self._namespace, **selector)
        self.last_resource_version = str(listing["metadata"]["resourceVersion"])
        list_rv = int(self.last_resource_version or 0)
        seen: set[ObjectKey] = set()
        for item in listing.get("items", []):
            item.setdefault("apiVersion", self.resource_type.api_version)
            item.setdefault("kind", self.resource_type.kind)
            key = object_key(item)
            seen.add(key)
            if self.put(item):
                self._notify(key, item if self._notify_untrimmed else self._objects[key])
        for key in [k for k in self._objects if k not in seen]:
            if resource_version_of(self._objects[key]) <= list_rv:
                del self._objects[key]
                self._deleted_rv[key] = list_rv
                self._notify(key, None)
        self._synced.set()

    def _known(self, line: bytes) -> bool:
        """Whether ``line`` modifies an object the cache holds at its resourceVersion or newer
        (typically our own write, stored when the server answered it): then it changes nothing
        and is not decoded, only its resourceVersion is taken as the watch position."""
        head = _HEAD.match(line)
        if head is None:
            return False
        current = self._objects.get((head["namespace"].decode(), head["name"].decode()))
        rv = head["rv"].decode()
        if current is None or resource_version_of(current) < int(rv):
            return False
        self.last_resource_version = rv
        self.known_events += 1
        return True

    async def _watch_once(self) -> None:
        async for line in self.client.watch_lines(
            self.resource_type,
            self.last_resource_version,
            timeout_seconds=self._watch_timeout_s,
            read_timeout_s=self._read_timeout_s,
            label_selector=self._label_selector,
            namespace=self._namespace,
        ):
            if self._known(line):
                continue
            event = orjson.loads(line)
            kind = event.get("type")
            obj: Any = event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone(410, obj)
                raise RuntimeError(f"watch error: {obj.get('message', obj)}")
            rv = obj.get("metadata", {}).get("resourceVersion")
            if rv:
                self.last_resource_version = str(rv)
            if kind == "BOOKMARK":
                continue
            if kind in ("ADDED", "MODIFIED"):
                if self.put(obj):
                    key = object_key(obj)
                    self._notify(key, obj if self._notify_untrimmed else self._objects[key])
            elif kind == "DELETED" and self._delete(obj):
                self._notify(object_key(obj), None)

    def _notify(self, key: ObjectKey, obj: Obj | None) -> None:
        try:
            self._on_change(key, obj)
        except Exception:
            log.exception("watch handler failed for %s/%s", *key)
