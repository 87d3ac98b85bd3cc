"""The whole benchmark: the scenario matrix (every variant, repeated in rounds, in a random
order), ingest and memory, then the throughput of sharded replicas."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aggregator.bench.host import allowed_cores, pin, unpin
from aggregator.bench.ingest import BATCH_SIZES, IngestResult, measure_ingest
from aggregator.bench.replicas import ReplicasResult, measure_replicas
from aggregator.bench.results import to_json
from aggregator.bench.runner import MatrixResult, run_matrix
from aggregator.bench.scenarios import Scenario, Sizes
from aggregator.bench.variants import SERVICE, Variant, statusagg_tuned
from aggregator.service import ServiceSettings


def steps(
    scenarios: list[Scenario], variants: list[Variant], rounds: int, replicas: Sequence[int] = ()
) -> int:
    """How many steps ``run_suite`` reports through ``done``."""
    service = any(v.strategy == SERVICE for v in variants)
    return len(scenarios) * len(variants) * rounds + service + len(replicas)


async def _matrix_and_ingest(
    kubeconfig: Path,
    sizes: Sizes,
    scenarios: list[Scenario],
    variants: list[Variant],
    rounds: int | None,
    seed: int,
    apiserver_pid: int | None,
    cores: tuple[int | None, int | None],
    ingest_batches: tuple[int, ...],
    done: Callable[[str], None],
) -> tuple[MatrixResult, IngestResult | None]:
    matrix = await run_matrix(
        kubeconfig,
        sizes,
        scenarios,
        variants,
        rounds=sizes.rounds if rounds is None else rounds,
        seed=seed,
        apiserver_pid=apiserver_pid,
        host_core=cores[1],
        done=done,
    )
    ingest = None
    if any(v.strategy == SERVICE for v in variants):
        ingest = await measure_ingest(
            kubeconfig,
            sizes.ingest_items,
            ServiceSettings(),
            batch_sizes=ingest_batches,
            core=cores[1],
        )
        done("ingest")
    return matrix, ingest


async def run_suite(
    kubeconfig: Path,
    sizes: Sizes,
    scenarios: list[Scenario],
    variants: list[Variant],
    *,
    command: str,
    rounds: int | None = None,
    seed: int = 0,
    apiserver_pid: int | None = None,
    cores: tuple[int | None, int | None] = (None, None),
    ingest_batches: tuple[int, ...] = BATCH_SIZES,
    replicas: Sequence[int] = (),
    replica_logs: Path | None = None,
    done: Callable[[str], None] = lambda step: None,
) -> dict[str, Any]:
    """Run everything against the API server of ``kubeconfig``; return bench.json's content.

    ``cores``: where to pin the bench process's helpers and the strategies (None: anywhere);
    ``replicas``: the replica counts of the replicas figure (none: not measured); their logs go
    to ``replica_logs`` (default: a temporary directory)."""
    everywhere = allowed_cores()
    pin(cores[0])
    try:
        matrix, ingest = await _matrix_and_ingest(
            kubeconfig,
            sizes,
            scenarios,
            variants,
            rounds,
            seed,
            apiserver_pid,
            cores,
            ingest_batches,
            done,
        )
    finally:
        unpin(everywhere)  # the replicas are processes of their own, free to use every core
    sharded: ReplicasResult | None = None
    if replicas:
        with tempfile.TemporaryDirectory(prefix="statusagg-replicas-") as scratch:
            sharded = await measure_replicas(
                kubeconfig,
                replicas,
                sizes.replica_resources,
                sizes.replica_waves,
                statusagg_tuned(),
                log_dir=replica_logs or Path(scratch),
                apiserver_pid=apiserver_pid,
                timeout_s=sizes.timeout_s,
                done=done,
            )
    return to_json(matrix, ingest, command, sharded, cores=cores)
