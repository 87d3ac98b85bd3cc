"""Helpers for tests that run against the real API server."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aggregator.kube import KubeClient

T = TypeVar("T")

MEMBER_CLUSTERS = ("member-1", "member-2")  # the member API servers of the ``members`` fixture

_REQUEST_TOTAL = re.compile(r"^apiserver_request_total\{([^}]*)\} (\S+)$")
_LABEL = re.compile(r'(\w+)="([^"]*)"')


async def eventually(
    probe: Callable[[], Awaitable[T]], *, within: float = 30.0, interval: float = 0.05
) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with the last value on timeout."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await probe()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s; last value: {last!r}")


async def api_requests(kube: KubeClient, *resources: str) -> Counter[tuple[str, str, str]]:
    """Requests the API server itself counted, by (verb, resource, subresource)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for line in (await kube.get_text("/metrics")).splitlines():
        match = _REQUEST_TOTAL.match(line)
        if not match:
            continue
        labels = dict(_LABEL.findall(match.group(1)))
        if resources and labels.get("resource") not in resources:
            continue
        key = (labels.get("verb", ""), labels.get("resource", ""), labels.get("subresource", ""))
        counts[key] += int(float(match.group(2)))
    return counts


def writes_between(
    before: Counter[tuple[str, str, str]], after: Counter[tuple[str, str, str]]
) -> Counter[tuple[str, str, str]]:
    """Requests other than reads and watches made between two snapshots."""
    delta = after - before
    return Counter({k: v for k, v in delta.items() if k[0] not in ("GET", "LIST", "WATCH")})
