"""Watch the templates of one run and record when each status changes, as the API server shows
it to any client: the basis of convergence and latency, whatever the strategy."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

from aggregator.bench.scenarios import Obj
from aggregator.kube.client import KubeClient
from aggregator.kube.resources import ResourceType
from aggregator.normalize import comparable_status


class StatusObserver:
    """Keeps, per template, every distinct status seen, with the time it was seen."""

    def __init__(
        self, client: KubeClient, rt: ResourceType, namespace: str, final: dict[str, Obj]
    ) -> None:
        self._client = client
        self._rt = rt
        self._namespace = namespace
        self._final = final
        self.history: dict[str, list[tuple[float, Obj]]] = {name: [] for name in final}
        self._reached: dict[str, float] = {}  # templates showing their final status, since when
        self._all_final = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        listing = await self._client.list(self._rt, self._namespace)
        now = time.monotonic()
        for obj in listing.get("items", []):
            self._seen(obj["metadata"]["name"], comparable_status(obj), now)
        self._task = asyncio.create_task(
            self._watch(str(listing["metadata"]["resourceVersion"])), name="bench observer"
        )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self, resource_version: str) -> None:
        while True:
            async for event in self._client.watch(
                self._rt, resource_version, namespace=self._namespace, timeout_seconds=600
            ):
                obj = event.get("object") or {}
                resource_version = obj.get("metadata", {}).get("resourceVersion", resource_version)
                if event.get("type") in ("ADDED", "MODIFIED"):
                    self._seen(obj["metadata"]["name"], comparable_status(obj), time.monotonic())

    def _seen(self, name: str, status: Obj, at: float) -> None:
        history = self.history.get(name)
        if history is None or (history and history[-1][1] == status):
            return
        history.append((at, status))
        if status == self._final[name]:
            self._reached[name] = at
        else:
            self._reached.pop(name, None)
        if len(self._reached) == len(self._final):
            self._all_final.set()
        else:
            self._all_final.clear()

    async def wait_final(self, timeout_s: float) -> bool:
        """Wait until every template shows its final status; False on timeout."""
        try:
            await asyncio.wait_for(self._all_final.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    def converged_at(self) -> float:
        """When the last template reached its final status (monotonic clock)."""
        return max(self._reached.values(), default=0.0)


@dataclass(frozen=True)
class Pending:
    sent_at: float
    status: Obj  # comparable


def latencies(pending: Sequence[Pending], history: Sequence[tuple[float, Obj]]) -> list[float]:
    """Seconds from each change's report to the first time the template showed that status or
    a later one (a writer may fold several changes into one write). Changes never shown (the
    template ended elsewhere) are left out."""
    result: list[float] = []
    done = 0
    for seen_at, status in history:
        newest = -1
        for index in range(done, len(pending)):
            if pending[index].sent_at > seen_at:
                break
            if pending[index].status == status:
                newest = index
        for index in range(done, newest + 1):
            result.append(seen_at - pending[index].sent_at)
        done = max(done, newest + 1)
    return result
