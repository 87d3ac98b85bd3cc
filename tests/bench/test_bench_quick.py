"""The benchmark suite on a tiny matrix against the real local kube-apiserver.

Behaviour only (what the API server counted, what the templates ended with), never wall time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aggregator.bench.report import write
from aggregator.bench.scenarios import TINY, build
from aggregator.bench.strategies import STRATEGIES
from aggregator.bench.suite import run_suite
from aggregator.devcluster import LocalAPIServer

RUN_KEYS = {
    "effective_changes",
    "status_writes",
    "event_writes",
    "api_requests",
    "conflicts",
    "converge_s",
    "latency_ms_p50",
    "latency_ms_p99",
    "cpu_s",
    "peak_rss_mb",
    "correct",
}
QUIET = ("unchanged", "steady", "spam", "burst")


@pytest.fixture(scope="module")
async def results(apiserver: LocalAPIServer) -> dict[str, Any]:
    return await run_suite(
        apiserver.kubeconfig,
        TINY,
        build(TINY),
        list(STRATEGIES),
        command="pytest tests/bench",
        apiserver_pid=apiserver.pid,
    )


def test_json_has_every_key_of_the_issue(results: dict[str, Any], tmp_path: Path) -> None:
    assert results["limit"]["status_puts_per_s"] > 0
    assert set(results["scenarios"]) == {"unchanged", "steady", "spam", "burst", "contention"}
    for runs in results["scenarios"].values():
        assert list(runs) == list(STRATEGIES)
        for run in runs.values():
            assert run.keys() >= RUN_KEYS
            assert run["effective_changes"] > 0
            assert all(verb not in ("WATCH", "LIST") for verb in run["api_requests"])
    assert results["ingest"]["reports_per_s_unchanged"] > 0
    assert results["ingest"]["reports_per_s_changed"] > 0
    write(results, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"bench.json", "bench.md", "bench.png"}
    assert "| statusagg |" in (tmp_path / "bench.md").read_text()


def test_every_strategy_ends_with_the_offline_aggregate(results: dict[str, Any]) -> None:
    wrong = [
        f"{scenario}/{strategy}"
        for scenario, runs in results["scenarios"].items()
        for strategy, run in runs.items()
        if not run["correct"]
    ]
    assert wrong == []
    assert results["ci_failures"] == []


@pytest.mark.parametrize("scenario", QUIET)
def test_statusagg_needs_at_most_one_request_per_change(
    results: dict[str, Any], scenario: str
) -> None:
    run = results["scenarios"][scenario]["statusagg"]
    assert run["requests_per_change"] <= 1.05, run
    assert run["conflicts"] == 0, run


def test_statusagg_coalesces_spam(results: dict[str, Any]) -> None:
    run = results["scenarios"]["spam"]["statusagg"]
    assert run["status_writes"] <= 2 * run["resources"]


@pytest.mark.parametrize("scenario", [*QUIET, "contention"])
def test_karmada_makes_more_requests_than_statusagg(results: dict[str, Any], scenario: str) -> None:
    runs = results["scenarios"][scenario]
    karmada, statusagg = runs["karmada"], runs["statusagg"]
    assert sum(karmada["api_requests"].values()) > sum(statusagg["api_requests"].values())
    assert karmada["event_writes"] >= karmada["status_writes"] > 0


def test_unchanged_reports_cost_the_naive_writer_a_put_each(results: dict[str, Any]) -> None:
    run = results["scenarios"]["unchanged"]["naive"]
    assert run["api_requests"]["PUT"] >= run["reports"]
    assert run["api_requests"]["GET"] >= run["reports"]
