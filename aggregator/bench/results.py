"""bench.json's content: every run, and per scenario and variant the median and quartiles of
each figure; ratios are taken per round against the ``limit`` run (or the baseline run) of the
same round and scenario, so a drift of the machine between rounds cancels out."""

from __future__ import annotations

import os
import platform
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aggregator.bench.ingest import IngestResult
from aggregator.bench.replicas import ReplicasResult
from aggregator.bench.report_replicas import replicas_json
from aggregator.bench.runner import MatrixResult, RunResult
from aggregator.bench.stats import percentile, spread
from aggregator.bench.targets import ci_failures, evaluate
from aggregator.bench.variants import BASELINES, DEFAULTS, EQUAL, LIMIT, SERVICE, TUNED

METRICS = (
    "requests_per_change",
    "requests",
    "status_writes",
    "event_writes",
    "karmada_writes",
    "conflicts",
    "converge_s",
    "latency_ms_p50",
    "latency_ms_p99",
    "cpu_s",
    "observer_cpu_s",
    "apiserver_cpu_s",
    "peak_rss_mb",
)
# the variants compared with the best baseline, per setting
SERVICE_AT = {EQUAL: f"{SERVICE}/{TUNED}", DEFAULTS: f"{SERVICE}/{DEFAULTS}"}


def run_json(run: RunResult) -> dict[str, Any]:
    requests = run.requests
    return {
        "round": run.round,
        "requests_per_change": round(run.requests_per_change, 3),
        "requests": requests.total,
        "api_requests": requests.by_verb,
        "status_writes": requests.status_writes,
        "event_writes": requests.event_writes,
        "karmada_writes": requests.karmada_writes,
        "conflicts": requests.conflicts,
        "converge_s": round(run.converge_s, 3),
        "latency_ms_p50": round(percentile(run.latencies_s, 50) * 1000, 1),
        "latency_ms_p99": round(percentile(run.latencies_s, 99) * 1000, 1),
        "latency_samples": len(run.latencies_s),
        "cpu_s": round(run.usage.cpu_s, 3),
        "observer_cpu_s": round(run.usage.observer_cpu_s, 3),
        "apiserver_cpu_s": round(run.usage.apiserver_cpu_s, 3),
        "peak_rss_mb": round(run.usage.peak_rss_mb, 1),
        "correct": run.correct,
        "timed_out": run.timed_out,
        "measured_s": round(run.measured_s, 3),
        "wall_s": round(run.wall_s, 1),
    }


def _cell(runs: list[dict[str, Any]], limits: dict[int, dict[str, Any]]) -> dict[str, Any]:
    stats = {metric: spread([run[metric] for run in runs]) for metric in METRICS}
    verbs = sorted({verb for run in runs for verb in run["api_requests"]})
    to_limit = [
        run["converge_s"] / limits[run["round"]]["converge_s"]
        for run in runs
        if run["round"] in limits and limits[run["round"]]["converge_s"] > 0
    ]
    return {
        "median": {metric: round(s.median, 3) for metric, s in stats.items()},
        "q1": {metric: round(s.q1, 3) for metric, s in stats.items()},
        "q3": {metric: round(s.q3, 3) for metric, s in stats.items()},
        "api_requests": {
            verb: round(spread([run["api_requests"].get(verb, 0) for run in runs]).median)
            for verb in verbs
        },
        "converge_vs_limit": spread(to_limit).json(),
        "conflicts_max": max(run["conflicts"] for run in runs),
        "timed_out": sum(run["timed_out"] for run in runs),
        "correct": all(run["correct"] for run in runs),
        "runs": runs,
    }


def _comparisons(variants: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """statusagg against the fastest baseline (by median convergence) of the same setting,
    per round."""
    found: dict[str, Any] = {}
    for setting, service_name in SERVICE_AT.items():
        service = variants.get(service_name)
        baselines = {
            name: cell
            for name, cell in variants.items()
            if name.split("/")[0] in BASELINES and name.endswith(f"/{setting}")
        }
        if service is None or not baselines:
            continue
        best = min(baselines, key=lambda name: baselines[name]["median"]["converge_s"])
        theirs = {run["round"]: run["converge_s"] for run in baselines[best]["runs"]}
        ratios = [
            run["converge_s"] / theirs[run["round"]]
            for run in service["runs"]
            if theirs.get(run["round"], 0) > 0
        ]
        found[setting] = {
            "service": service_name,
            "best_baseline": best,
            "converge_ratio": spread(ratios).json(),
        }
    return found


def matrix_json(matrix: MatrixResult) -> dict[str, Any]:
    by_cell: dict[tuple[str, str], list[RunResult]] = defaultdict(list)
    for run in matrix.runs:
        by_cell[run.scenario, run.variant].append(run)
    scenarios: dict[str, Any] = {}
    for scenario in matrix.scenarios:
        cells = {v.name: by_cell[scenario.name, v.name] for v in matrix.variants}
        cells = {name: runs for name, runs in cells.items() if runs}
        if not cells:
            continue
        first = next(iter(cells.values()))[0]
        limits = {run.round: run_json(run) for run in cells.get(LIMIT, [])}
        variants = {
            name: _cell([run_json(run) for run in runs], limits) for name, runs in cells.items()
        }
        section: dict[str, Any] = {
            "resources": first.resources,
            "clusters": scenario.clusters,
            "reports": first.reports,
            "effective_changes": first.effective_changes,
            "variants": variants,
            "vs_best_baseline": _comparisons(variants),
        }
        if limits:
            section["limit_puts_per_s"] = spread(
                [first.effective_changes / max(1e-9, run["converge_s"]) for run in limits.values()]
            ).json(1)
        scenarios[scenario.name] = section
    return {
        "sizes": matrix.sizes.name,
        "rounds": matrix.rounds,
        "seed": matrix.seed,
        "variants": {v.name: v.describe() for v in matrix.variants},
        "order": [f"{run.scenario}/{run.variant} #{run.round + 1}" for run in matrix.runs],
        "scenarios": scenarios,
    }


def ingest_json(ingest: IngestResult) -> dict[str, Any]:
    return {
        "items": ingest.items,
        "batches": [
            {
                "batch": b.batch,
                "items": b.items,
                "unchanged_per_s": round(b.unchanged_per_s),
                "changed_per_s": round(b.changed_per_s),
                "unchanged_cpu_s": round(b.unchanged_cpu_s, 3),
                "changed_cpu_s": round(b.changed_cpu_s, 3),
            }
            for b in ingest.batches
        ],
    }


def to_json(
    matrix: MatrixResult,
    ingest: IngestResult | None,
    command: str,
    replicas: ReplicasResult | None = None,
    *,
    cores: Sequence[int | None] = (None, None),
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "bench_core": cores[0],
            "strategy_core": cores[1],
        },
        **matrix_json(matrix),
    }
    burst = data["scenarios"].get("burst", {}).get("limit_puts_per_s")
    if burst:
        data["limit"] = {"status_puts_per_s": burst["median"]}
    if ingest is not None:
        data["ingest"] = ingest_json(ingest)
        data["memory"] = {
            "items": ingest.items,
            "rss_bytes_per_item": round(ingest.rss_bytes_per_item),
        }
    if replicas is not None:
        data["replicas"] = replicas_json(replicas)
    return judged(data)


def judged(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with its targets and CI failures judged (again) by the current targets."""
    data["targets"] = [target.json() for target in evaluate(data)]
    data["ci_failures"] = ci_failures(data)
    return data
