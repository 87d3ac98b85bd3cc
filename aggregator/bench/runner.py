"""Run the matrix: every scenario with every variant, repeated in rounds, in a random order, on
one API server; each variant's strategy in its own process (``host``), the observer here.

Each run gets its own namespace and templates. Set-up (templates, first statuses, starting the
strategy, reports made before the run) happens before the first request snapshot; the run
ends when every template shows its final status and the strategy and the API server are idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aggregator.bench.accounting import (
    Requests,
    Usage,
    UsageMeter,
    requests_between,
    wait_quiet,
)
from aggregator.bench.host import StrategyHost
from aggregator.bench.objects import create_templates, remove_objects
from aggregator.bench.observe import Pending, StatusObserver, latencies
from aggregator.bench.replay import Replay, replay
from aggregator.bench.scenarios import Obj, Scenario, Sizes, template_name
from aggregator.bench.strategies.base import bench_client
from aggregator.bench.variants import Variant
from aggregator.kube.client import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.normalize import comparable_status
from interpreters import build_registry


@dataclass(frozen=True)
class RunResult:
    scenario: str
    variant: str
    round: int  # which repetition: the runs of one round and scenario share a ``limit`` run
    resources: int
    reports: int
    effective_changes: int
    requests: Requests
    converge_s: float
    latencies_s: list[float]
    usage: Usage
    correct: bool
    timed_out: bool  # stopped after ``Sizes.timeout_s`` without converging
    measured_s: float  # from the first wave to the strategy's drain: the counted window
    wall_s: float  # the whole run, set-up and clean-up included

    @property
    def requests_per_change(self) -> float:
        return self.requests.total / max(1, self.effective_changes)


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
    """Shares one client (set-up, observation, request counts) and the hosts across the runs."""

    def __init__(
        self,
        kubeconfig: Path,
        client: KubeClient,
        sizes: Sizes,
        apiserver_pid: int | None,
        host_core: int | None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.client = client
        self.sizes = sizes
        self.meter = UsageMeter(apiserver_pid)
        self.host_core = host_core
        self.hosts: dict[str, StrategyHost] = {}

    def host(self, variant: Variant) -> StrategyHost:
        if variant.name not in self.hosts:
            self.hosts[variant.name] = StrategyHost(variant, self.sizes, self.host_core)
        return self.hosts[variant.name]

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
        self.hosts.clear()

    async def run(
        self, scenario: Scenario, expected: Replay, variant: Variant, round_: int
    ) -> RunResult:
        began = time.monotonic()
        slug = variant.name.replace("_", "-").replace("/", "-")
        namespace = f"{scenario.name}-{slug}-{uuid.uuid4().hex[:6]}"
        initial = expected.initial if scenario.preload else None
        await create_templates(self.client, namespace, scenario.resources, initial)
        final = {template_name(r): status for r, status in enumerate(expected.final)}
        host = self.host(variant)
        observer = StatusObserver(self.client, DEPLOYMENTS, namespace, final)
        await host.call("start", str(self.kubeconfig), scenario.name, namespace)
        try:
            if scenario.preload:
                await host.call("preload")
            await observer.start()
            before = await wait_quiet(self.client)
            self.meter.start()
            await host.call("meter")
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
                await host.call("deliver", index)
            if churn is not None:
                churn.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await churn
            reached = await observer.wait_final(self.sizes.timeout_s)
            converged = (observer.converged_at() if reached else time.monotonic()) - started
            if reached:
                await host.call("drain")
            measured_s = time.monotonic() - started
            cpu_s, peak_rss_mb = await host.call("usage")
            usage = self.meter.stop(cpu_s, peak_rss_mb)  # before the counters' own scrapes
            if not reached:  # still working: stop it so that the counters come to rest
                await host.call("stop")
            after = await wait_quiet(self.client)
            correct = reached and await all_final(self.client, namespace, final)
        finally:
            await observer.stop()
            await host.call("stop")
        waited: list[float] = []
        for resource, changes in enumerate(expected.changes):
            pending = [Pending(sent[change.wave], change.comparable) for change in changes]
            waited += latencies(pending, observer.history[template_name(resource)])
        await remove_objects(self.client, namespace)
        return RunResult(
            scenario=scenario.name,
            variant=variant.name,
            round=round_,
            resources=scenario.resources,
            reports=scenario.reports,
            effective_changes=expected.effective_changes,
            requests=requests_between(before, after),
            converge_s=max(0.0, converged),
            latencies_s=waited,
            usage=usage,
            correct=correct,
            timed_out=not reached,
            measured_s=measured_s,
            wall_s=time.monotonic() - began,
        )


@dataclass(frozen=True)
class MatrixResult:
    sizes: Sizes
    rounds: int
    seed: int
    variants: list[Variant]
    scenarios: list[Scenario]
    runs: list[RunResult]  # in the order they ran


async def run_matrix(
    kubeconfig: Path,
    sizes: Sizes,
    scenarios: list[Scenario],
    variants: list[Variant],
    *,
    rounds: int,
    seed: int,
    apiserver_pid: int | None = None,
    host_core: int | None = None,
    done: Callable[[str], None] = lambda step: None,
) -> MatrixResult:
    """``rounds`` rounds; in each, the scenarios in a random order and, per scenario, every
    variant in a random order (``seed`` makes the order reproducible)."""
    registry = build_registry(load_plugins=False)
    expected = {scenario.name: replay(scenario, registry) for scenario in scenarios}
    order = random.Random(seed)
    runs: list[RunResult] = []
    async with bench_client(kubeconfig) as client:
        runner = Runner(kubeconfig, client, sizes, apiserver_pid, host_core)
        try:
            for round_ in range(rounds):
                for scenario in order.sample(scenarios, len(scenarios)):
                    for variant in order.sample(variants, len(variants)):
                        run = await runner.run(scenario, expected[scenario.name], variant, round_)
                        runs.append(run)
                        done(f"{scenario.name}/{variant.name} #{round_ + 1}")
        finally:
            runner.close()
    return MatrixResult(sizes, rounds, seed, variants, scenarios, runs)
