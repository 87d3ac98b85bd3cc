"""What a run costs: API requests as the API server counted them, and CPU per process.

Requests come from ``apiserver_request_total`` on the API server's ``/metrics``, restricted to
templates (deployments), events, and Karmada's Works and ResourceBindings. Watches and lists are
left out (set-up and observation), and so are plain PATCHes of deployments: only the
``contention`` scenario's label updater sends those.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field

from aggregator.kube.client import KubeClient

RESOURCES = ("deployments", "events", "works", "resourcebindings")
UNCOUNTED_VERBS = ("WATCH", "LIST")
WRITE_VERBS = ("POST", "PUT", "PATCH", "APPLY")
LABEL_UPDATES = ("PATCH", "deployments", "")

_REQUEST_TOTAL = re.compile(r"^apiserver_request_total\{([^}]*)\} (\S+)$", re.MULTILINE)
_REQUEST_PREFIX = "apiserver_request_total{"
_LABEL = re.compile(r'(\w+)="([^"]*)"')

# verb, resource, subresource, code
RequestKey = tuple[str, str, str, str]


async def request_counts(client: KubeClient) -> Counter[RequestKey]:
    """The API server's request counters for templates and events, now."""
    counts: Counter[RequestKey] = Counter()
    text = await client.get_text("/metrics")
    lines = "\n".join(line for line in text.splitlines() if line.startswith(_REQUEST_PREFIX))
    for labels_text, value in _REQUEST_TOTAL.findall(lines):
        labels = dict(_LABEL.findall(labels_text))
        if labels.get("resource") in RESOURCES:
            key = (
                labels["verb"],
                labels["resource"],
                labels.get("subresource", ""),
                labels["code"],
            )
            counts[key] += int(float(value))
    return counts


async def wait_quiet(
    client: KubeClient, interval_s: float = 0.1, timeout_s: float = 30.0
) -> Counter[RequestKey]:
    """Wait until the counters stop moving (background writers such as event recorders done);
    the counters then."""
    deadline = time.monotonic() + timeout_s
    last = await request_counts(client)
    while time.monotonic() < deadline:
        await asyncio.sleep(interval_s)
        now = await request_counts(client)
        if now == last:
            return now
        last = now
    return last


@dataclass(frozen=True)
class Requests:
    by_verb: dict[str, int] = field(default_factory=dict)
    status_writes: int = 0  # successful writes of templates' /status
    event_writes: int = 0  # successful event creations and updates
    karmada_writes: int = 0  # successful writes of Works' and ResourceBindings' /status
    conflicts: int = 0  # 409 answers about templates

    @property
    def total(self) -> int:
        return sum(self.by_verb.values())


def requests_between(before: Counter[RequestKey], after: Counter[RequestKey]) -> Requests:
    by_verb: Counter[str] = Counter()
    status_writes = event_writes = karmada_writes = conflicts = 0
    for (verb, res, sub, code), count in (after - before).items():
        if verb in UNCOUNTED_VERBS or (verb, res, sub) == LABEL_UPDATES:
            continue
        by_verb[verb] += count
        ok = code.startswith("2")
        if res == "deployments" and code == "409":
            conflicts += count
        elif res == "deployments" and sub == "status" and verb in WRITE_VERBS and ok:
            status_writes += count
        elif res == "events" and verb in WRITE_VERBS and ok:
            event_writes += count
        elif sub == "status" and verb in WRITE_VERBS and ok:
            karmada_writes += count
    return Requests(
        dict(sorted(by_verb.items())), status_writes, event_writes, karmada_writes, conflicts
    )


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds used so far by another process (the API server), 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Usage:
    cpu_s: float  # the strategy's process (the service, or a baseline)
    peak_rss_mb: float  # the strategy's process
    observer_cpu_s: float  # the bench process: driver, watch, request counters
    apiserver_cpu_s: float


class UsageMeter:
    """CPU seconds of this process and of the API server during a run."""

    def __init__(self, apiserver_pid: int | None) -> None:
        self._pid = apiserver_pid
        self._cpu = 0.0
        self._server_cpu = 0.0

    def start(self) -> None:
        self._cpu = time.process_time()
        self._server_cpu = process_cpu_s(self._pid)

    def stop(self, strategy_cpu_s: float, strategy_peak_rss_mb: float) -> Usage:
        return Usage(
            strategy_cpu_s,
            strategy_peak_rss_mb,
            time.process_time() - self._cpu,
            process_cpu_s(self._pid) - self._server_cpu,
        )
