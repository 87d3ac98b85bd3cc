"""The replicas figure with tiny sizes: 1 and 2 replica processes against the real API server.

Behaviour only (convergence, what was written and forwarded, the report's shape), never speed.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from aggregator.bench.replicas import metric_sum, parse_counts
from aggregator.bench.report import write
from aggregator.bench.scenarios import TINY
from aggregator.bench.suite import run_suite
from aggregator.devcluster import LocalAPIServer

SIZES = dataclasses.replace(TINY, replica_resources=50, replica_waves=2)
COUNTS = (1, 2)


@pytest.fixture(scope="module")
async def results(apiserver: LocalAPIServer, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return await run_suite(
        apiserver.kubeconfig,
        SIZES,
        [],
        [],
        command="pytest tests/bench/test_bench_replicas.py",
        apiserver_pid=apiserver.pid,
        replicas=COUNTS,
        replica_logs=tmp_path_factory.mktemp("replica-logs"),
    )


def test_every_replica_count_converges_and_is_reported(
    results: dict[str, Any], tmp_path: Path
) -> None:
    section = results["replicas"]
    assert (section["resources"], section["clusters"], section["bursts"]) == (50, 3, 2)
    assert "--shard" not in section["serve_args"]
    assert section["serve_args"][section["serve_args"].index("--qps") + 1] == "0"
    runs = {run["replicas"]: run for run in section["runs"]}
    assert list(runs) == list(COUNTS)
    for run in runs.values():
        assert run["correct"], run["error"]
        assert len(run["bursts"]) == 2
        assert run["effective_changes"] == 50
        assert run["status_writes"] >= run["effective_changes"]
        assert run["converge_s"] > 0
        assert run["writes_per_s"] > 0
        assert run["items_sent"] == 150
        assert all(b["view_changes"] == 0 and b["resyncs"] == 0 for b in run["bursts"])
    assert runs[1]["speedup"] == 1.0
    assert runs[1]["forwarded_items"] == 0
    assert 0 < runs[2]["forwarded_items"] < 150
    assert all(len(b["replica_cpu_s"]) == 2 for b in runs[2]["bursts"])
    assert results["ci_failures"] == []

    write(results, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {"bench.json", "bench.md", "bench-replicas.png"}
    assert json.loads((tmp_path / "bench.json").read_text())["replicas"] == section
    text = (tmp_path / "bench.md").read_text()
    assert "## replicas" in text
    assert "| 1 | 50 |" in text
    assert "| 2 | 50 |" in text


def test_a_replica_count_that_fails_fails_the_gate() -> None:
    from aggregator.bench.targets import ci_failures

    data = {"scenarios": {}, "replicas": {"runs": [{"replicas": 2, "correct": False, "error": ""}]}}
    assert ci_failures(data) == ["replicas 2: templates did not end at the expected status"]


def test_counts_and_metrics_parsing() -> None:
    assert parse_counts("1,2,3") == (1, 2, 3)
    assert parse_counts("") == parse_counts("0") == ()
    with pytest.raises(ValueError, match="negative"):
        parse_counts("-1")
    text = 'a_total{call="report"} 3.0\na_total{call="sync"} 2.0\nab_total 7.0\na 1.0\n'
    assert metric_sum(text, "a_total") == 5.0
    assert metric_sum(text, "a") == 1.0
