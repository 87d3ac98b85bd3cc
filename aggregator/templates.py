"""Watch caches of template types, started on demand the first time a kind is reported."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aggregator.kube.client import KubeClient, Obj
from aggregator.kube.resources import ResourceType
from aggregator.kube.watchcache import ObjectKey, WatchCache
from aggregator.metrics import Metrics
from aggregator.model import ResourceKey

TemplateHandler = Callable[[ResourceKey, Obj | None], None]


class TemplateCaches:
    """One list+watch cache per template type; ``on_change`` hears about every applied change
    (with the object's managedFields)."""

    def __init__(
        self,
        client: KubeClient,
        on_change: TemplateHandler,
        *,
        metrics: Metrics | None = None,
        read_timeout_s: float = 70.0,
    ) -> None:
        self.client = client
        self._on_change = on_change
        self._metrics = metrics
        self._read_timeout_s = read_timeout_s
        self._caches: dict[tuple[str, str], tuple[ResourceType, WatchCache]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def resolve(self, api_version: str, kind: str) -> tuple[ResourceType, WatchCache]:
        """The resource type and its synced cache (discovered and started on first use)."""
        type_key = (api_version, kind)
        found = self._caches.get(type_key)
        if found is not None:
            return found
        lock = self._locks.setdefault(type_key, asyncio.Lock())
        async with lock:
            found = self._caches.get(type_key)
            if found is not None:
                return found
            rt = await self.client.resource_type(api_version, kind)

            def handler(object_key: ObjectKey, obj: Obj | None) -> None:
                namespace, name = object_key
                self._on_change(ResourceKey(api_version, kind, namespace, name), obj)

            cache = WatchCache(
                self.client,
                rt,
                handler,
                read_timeout_s=self._read_timeout_s,
                metrics=self._metrics,
                notify_untrimmed=True,  # managedFields name the other writers of a status
            )
            await cache.start()
            self._caches[type_key] = (rt, cache)
            return rt, cache

    async def stop(self) -> None:
        for _, cache in self._caches.values():
            await cache.stop()
