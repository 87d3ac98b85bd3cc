"""Run the matrix: every scenario with every strategy, one after another, on one API server.

Each run gets its own namespace and templates. Set-up (templates, first statuses, starting the
strategy, reports made before the run) happens before the first request snapshot; the run
ends when every template shows its final status and the strategy and the API server are idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aggregator.bench.accounting import (
    Requests,
    Usage,
    UsageMeter,
    request_counts,
    requests_between,
    wait_quiet,
)
from aggregator.bench.objects import create_templates, remove_objects
from aggregator.bench.observe import Pending, StatusObserver, latencies
from aggregator.bench.replay import Replay, replay
from aggregator.bench.scenarios import Obj, Scenario, Sizes, template_name
from aggregator.bench.strategies import RunContext, make, status_puts_per_s
from aggregator.bench.strategies.base import bench_client
from aggregator.kube.client import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.normalize import comparable_status
from aggregator.service import ServiceSettings
from interpreters import build_registry


@dataclass(frozen=True)
class RunResult:
    scenario: str
    strategy: str
    resources: int
    reports: int
    effective_changes: int
    requests: Requests
    converge_s: float
    latencies_s: list[float]
    usage: Usage
    correct: bool

    @property
    def requests_per_change(self) -> float:
        return self.requests.total / max(1, self.effective_changes)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


async def _churn(client: KubeClient, namespace: str, resources: int, per_s: float) -> None:
    """Another client: relabel the templates round-robin, ``per_s`` times a second."""
    started = time.monotonic()
    count = 0
    while True:
        patch = {"metadata": {"labels": {"bench-churn": str(count)}}}
        await client.patch(DEPLOYMENTS, namespace, template_name(count % resources), patch)
        count += 1
        await asyncio.sleep(max(0.0, started + count / per_s - time.monotonic()))


async def wrong_templates(client: KubeClient, namespace: str, final: dict[str, Obj]) -> list[str]:
    """The templates of ``final`` not showing their final status now (one list)."""
    listing = await client.list(DEPLOYMENTS, namespace)
    shown = {obj["metadata"]["name"]: comparable_status(obj) for obj in listing["items"]}
    return [name for name, status in final.items() if shown.get(name) != status]


async def all_final(client: KubeClient, namespace: str, final: dict[str, Obj]) -> bool:
    listing = await client.list(DEPLOYMENTS, namespace)
    shown = {obj["metadata"]["name"]: comparable_status(obj) for obj in listing["items"]}
    return shown == final


class Runner:
    """Shares one client (set-up, observation, request counts) across the runs."""

    def __init__(
        self,
        kubeconfig: Path,
        client: KubeClient,
        settings: ServiceSettings,
        apiserver_pid: int | None,
        timeout_s: float,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.client = client
        self.settings = settings
        self.meter = UsageMeter(apiserver_pid)
        self.timeout_s = timeout_s

    async def run(self, scenario: Scenario, expected: Replay, strategy_name: str) -> RunResult:
        namespace = f"{scenario.name}-{strategy_name.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
        initial = expected.initial if scenario.preload else None
        await create_templates(self.client, namespace, scenario.resources, initial)
        final = {template_name(r): status for r, status in enumerate(expected.final)}
        strategy = make(strategy_name, self.settings)
        observer = StatusObserver(self.client, DEPLOYMENTS, namespace, final)
        await strategy.start(RunContext(self.kubeconfig, namespace, scenario, expected))
        try:
            if scenario.preload:
                await strategy.preload(scenario.preload_wave().by_cluster())
                await strategy.drain()
            batches = [wave.by_cluster() for wave in scenario.waves]
            await observer.start()
            await wait_quiet(self.client)
            before = await request_counts(self.client)
            self.meter.start()
            churn = (
                asyncio.create_task(
                    _churn(self.client, namespace, scenario.resources, scenario.churn_per_s)
                )
                if scenario.churn_per_s
                else None
            )
            started = time.monotonic()
            sent: list[float] = []
            for index, wave in enumerate(scenario.waves):
                await asyncio.sleep(max(0.0, started + wave.at_s - time.monotonic()))
                sent.append(time.monotonic())
                await strategy.deliver(index, batches[index])
            if churn is not None:
                churn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await churn
            reached = await observer.wait_final(self.timeout_s)
            converged = (observer.converged_at() if reached else time.monotonic()) - started
            await strategy.drain()
            await wait_quiet(self.client)
            usage = self.meter.stop()
            after = await request_counts(self.client)
            correct = reached and await all_final(self.client, namespace, final)
        finally:
            await observer.stop()
            await strategy.stop()
        waited: list[float] = []
        for resource, changes in enumerate(expected.changes):
            pending = [Pending(sent[change.wave], change.comparable) for change in changes]
            waited += latencies(pending, observer.history[template_name(resource)])
        await remove_objects(self.client, namespace)
        return RunResult(
            scenario=scenario.name,
            strategy=strategy_name,
            resources=scenario.resources,
            reports=scenario.reports,
            effective_changes=expected.effective_changes,
            requests=requests_between(before, after),
            converge_s=max(0.0, converged),
            latencies_s=waited,
            usage=usage,
            correct=correct,
        )


@dataclass(frozen=True)
class MatrixResult:
    sizes: Sizes
    status_puts_per_s: float
    runs: list[RunResult]


async def run_matrix(
    kubeconfig: Path,
    sizes: Sizes,
    scenarios: list[Scenario],
    strategies: list[str],
    settings: ServiceSettings,
    *,
    apiserver_pid: int | None = None,
    done: Callable[[str], None] = lambda step: None,
) -> MatrixResult:
    """Calibrate the PUT ceiling, then run each scenario with each strategy."""
    registry = build_registry(load_plugins=False)
    async with bench_client(kubeconfig) as client:
        puts_per_s = await status_puts_per_s(
            kubeconfig, f"limit-{uuid.uuid4().hex[:6]}", sizes.calibration_puts
        )
        done("limit")
        runner = Runner(kubeconfig, client, settings, apiserver_pid, sizes.timeout_s)
        runs = []
        for scenario in scenarios:
            expected = replay(scenario, registry)
            for name in strategies:
                runs.append(await runner.run(scenario, expected, name))
                done(f"{scenario.name}/{name}")
    return MatrixResult(sizes, puts_per_s, runs)
