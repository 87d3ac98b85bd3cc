"""Follow every object of one kind from when the API server serves it (a CRD installed later,
for instance)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from aggregator.kube.client import KubeClient, NotFound, Obj
from aggregator.kube.resources import ResourceType
from aggregator.kube.watchcache import ObjectKey, WatchCache
from aggregator.metrics import Metrics

log = logging.getLogger(__name__)


async def wait_until_served(
    client: KubeClient, api_version: str, kind: str, *, retry_s: float, meanwhile: str
) -> ResourceType:
    """The resource type of ``kind`` once the API server serves it, asked every ``retry_s``;
    while it is not served, ``meanwhile`` (what that means for the caller) is logged once."""
    logged = False
    while True:
        try:
            return await client.resource_type(api_version, kind)
        except NotFound:
            if not logged:
                log.info(
                    "the control plane does not serve %s (%s): %s", kind, api_version, meanwhile
                )
                logged = True
        except Exception as exc:
            log.warning("discovering %s failed: %s", kind, exc)
        await asyncio.sleep(retry_s)


class Follower:
    """Watches every object of one kind and hands all of them to ``apply`` after changes (once
    per burst of changes, never two at a time), from when the API server serves the kind;
    ``meanwhile`` says in the log what it means for the caller that it is not served yet."""

    def __init__(
        self,
        client: KubeClient,
        api_version: str,
        kind: str,
        apply: Callable[[list[Obj]], Awaitable[None]],
        *,
        retry_s: float,
        meanwhile: str,
        metrics: Metrics,
        name: str,
    ) -> None:
        self._client = client
        self._api_version = api_version
        self._kind = kind
        self._apply = apply
        self._retry_s = retry_s
        self._meanwhile = meanwhile
        self._metrics = metrics
        self._name = name
        self._cache: WatchCache | None = None
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._cache is not None:
            await self._cache.stop()

    async def _run(self) -> None:
        rt = await wait_until_served(
            self._client,
            self._api_version,
            self._kind,
            retry_s=self._retry_s,
            meanwhile=self._meanwhile,
        )
        self._cache = WatchCache(self._client, rt, self._changed, metrics=self._metrics)
        await self._cache.start()
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._apply(self._cache.objects())

    def _changed(self, _key: ObjectKey, _obj: Obj | None) -> None:
        self._dirty.set()
