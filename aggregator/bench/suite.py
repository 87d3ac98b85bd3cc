"""The whole benchmark: the PUT ceiling, the scenario matrix, ingest and memory, then the
throughput of sharded replicas."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aggregator.bench.ingest import measure_ingest
from aggregator.bench.replicas import ReplicasResult, measure_replicas
from aggregator.bench.report import to_json
from aggregator.bench.runner import run_matrix
from aggregator.bench.scenarios import Scenario, Sizes
from aggregator.bench.strategies.statusagg import StatusaggStrategy
from aggregator.events import EventSettings
from aggregator.service import ServiceSettings

# The service's defaults, except (docs/benchmarks.md explains each):
# - as many workers as ``limit`` has PUTs in flight (8 cap the service at ~600 writes/s here);
# - a coalescing delay longer than one wave of a 3-cluster fleet takes to ingest (~60 ms for
#   3 x 1,000 items): it counts from a key's first report, so a shorter one writes a partial
#   aggregate and then waits min_write_interval_s for the rest;
# - one event per second (burst 1) instead of 5 (burst 25), which alone adds 5-10% requests.
SETTINGS = ServiceSettings(
    workers=32,
    coalesce_delay_s=0.1,
    events=EventSettings(global_qps=1.0, global_burst=1),
)


def steps(scenarios: list[Scenario], strategies: list[str], replicas: Sequence[int] = ()) -> int:
    """How many steps ``run_suite`` reports through ``done``."""
    return (
        1
        + len(scenarios) * len(strategies)
        + (StatusaggStrategy.name in strategies)
        + len(replicas)
    )


async def run_suite(
    kubeconfig: Path,
    sizes: Sizes,
    scenarios: list[Scenario],
    strategies: list[str],
    *,
    command: str,
    settings: ServiceSettings = SETTINGS,
    apiserver_pid: int | None = None,
    replicas: Sequence[int] = (),
    replica_logs: Path | None = None,
    done: Callable[[str], None] = lambda step: None,
) -> dict[str, Any]:
    """Run everything against the API server of ``kubeconfig``; return bench.json's content.

    ``replicas``: the replica counts of the replicas figure (none: not measured); their logs go
    to ``replica_logs`` (default: a temporary directory)."""
    matrix = await run_matrix(
        kubeconfig,
        sizes,
        scenarios,
        strategies,
        settings,
        apiserver_pid=apiserver_pid,
        done=done,
    )
    ingest = None
    if StatusaggStrategy.name in strategies:
        ingest = await measure_ingest(kubeconfig, sizes.ingest_items, settings)
        done("ingest")
    sharded: ReplicasResult | None = None
    if replicas:
        with tempfile.TemporaryDirectory(prefix="statusagg-replicas-") as scratch:
            sharded = await measure_replicas(
                kubeconfig,
                replicas,
                sizes.replica_resources,
                sizes.replica_waves,
                settings,
                log_dir=replica_logs or Path(scratch),
                apiserver_pid=apiserver_pid,
                timeout_s=sizes.timeout_s,
                done=done,
            )
    return to_json(matrix, ingest, settings, command, sharded)
