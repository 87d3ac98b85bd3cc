"""The results as bench.json, bench.md (a table per scenario) and bench.png (bars per strategy)."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aggregator.bench.ingest import IngestResult
from aggregator.bench.runner import MatrixResult, RunResult, percentile
from aggregator.bench.strategies.limit import CONCURRENCY
from aggregator.bench.targets import ci_failures, evaluate
from aggregator.service import ServiceSettings


def _run_json(run: RunResult) -> dict[str, Any]:
    requests = run.requests
    return {
        "effective_changes": run.effective_changes,
        "status_writes": requests.status_writes,
        "event_writes": requests.event_writes,
        "api_requests": requests.by_verb,
        "requests_per_change": round(run.requests_per_change, 3),
        "conflicts": requests.conflicts,
        "converge_s": round(run.converge_s, 3),
        "latency_ms_p50": round(percentile(run.latencies_s, 50) * 1000, 1),
        "latency_ms_p99": round(percentile(run.latencies_s, 99) * 1000, 1),
        "latency_samples": len(run.latencies_s),
        "cpu_s": round(run.usage.cpu_s, 3),
        "apiserver_cpu_s": round(run.usage.apiserver_cpu_s, 3),
        "peak_rss_mb": round(run.usage.peak_rss_mb, 1),
        "correct": run.correct,
        "resources": run.resources,
        "reports": run.reports,
    }


def _settings_json(settings: ServiceSettings) -> dict[str, Any]:
    return {
        name: value
        for name, value in dataclasses.asdict(settings).items()
        if name in ("workers", "coalesce_delay_s", "min_write_interval_s", "write_mode", "events")
    }


def to_json(
    matrix: MatrixResult,
    ingest: IngestResult | None,
    settings: ServiceSettings,
    command: str,
) -> dict[str, Any]:
    scenarios: dict[str, dict[str, Any]] = {}
    for run in matrix.runs:
        scenarios.setdefault(run.scenario, {})[run.strategy] = _run_json(run)
    data: dict[str, Any] = {
        "command": command,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sizes": matrix.sizes.name,
        "statusagg_settings": _settings_json(settings),
        "limit": {
            "status_puts_per_s": round(matrix.status_puts_per_s, 1),
            "in_flight": CONCURRENCY,
        },
        "scenarios": scenarios,
    }
    if ingest is not None:
        data["ingest"] = {
            "reports_per_s_unchanged": round(ingest.reports_per_s_unchanged),
            "reports_per_s_changed": round(ingest.reports_per_s_changed),
            "cpu_s_unchanged": round(ingest.cpu_s_unchanged, 3),
            "cpu_s_changed": round(ingest.cpu_s_changed, 3),
            "items": ingest.items,
        }
        data["memory"] = {
            "items": ingest.items,
            "rss_bytes_per_item": round(ingest.rss_bytes_per_item),
        }
    data["targets"] = [dataclasses.asdict(t) for t in evaluate(data)]
    data["ci_failures"] = ci_failures(data)
    return data


_COLUMNS = (
    ("strategy", None),
    ("req/change", "requests_per_change"),
    ("status writes", "status_writes"),
    ("events", "event_writes"),
    ("requests by verb", "api_requests"),
    ("409s", "conflicts"),
    ("converge s", "converge_s"),
    ("p50 ms", "latency_ms_p50"),
    ("p99 ms", "latency_ms_p99"),
    ("CPU s", "cpu_s"),
    ("API server CPU s", "apiserver_cpu_s"),
    ("peak RSS MB", "peak_rss_mb"),
    ("correct", "correct"),
)


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return " ".join(f"{verb} {count}" for verb, count in value.items()) or "-"
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# statusagg benchmark ({data['sizes']})",
        "",
        f"`{data['command']}` on {data['date']}, {data['machine']['cpus']} CPUs, "
        f"Python {data['machine']['python']}. What each number means: docs/benchmarks.md.",
        "",
        f"Status PUT ceiling (`limit`, {data['limit']['in_flight']} in flight): "
        f"**{data['limit']['status_puts_per_s']:,.0f} PUT/s**.",
    ]
    for name, runs in data["scenarios"].items():
        first = next(iter(runs.values()))
        lines += [
            "",
            f"## {name}",
            "",
            f"{first['resources']:,} templates, {first['reports']:,} reports, "
            f"{first['effective_changes']:,} effective changes.",
            "",
            "| " + " | ".join(title for title, _ in _COLUMNS) + " |",
            "|" + "---|" * len(_COLUMNS),
        ]
        for strategy, run in runs.items():
            cells = [strategy] + [_cell(run[key]) for _, key in _COLUMNS[1:] if key]
            lines.append("| " + " | ".join(cells) + " |")
    if "ingest" in data:
        ingest, memory = data["ingest"], data["memory"]
        lines += [
            "",
            "## ingest and memory (statusagg alone)",
            "",
            f"- unchanged reports: **{ingest['reports_per_s_unchanged']:,}/s**; "
            f"changed: **{ingest['reports_per_s_changed']:,}/s** "
            f"({ingest['items']:,} items in batches of 1,000)",
            f"- RSS per stored member item at {memory['items']:,} items: "
            f"**{memory['rss_bytes_per_item']:,} bytes**",
        ]
    lines += [
        "",
        "## statusagg targets",
        "",
        "| target | value | goal | met |",
        "|---|---|---|---|",
    ]
    for target in data["targets"]:
        met = "yes" if target["met"] else "**no**"
        lines.append(f"| {target['name']} | {_cell(target['value'])} | {target['goal']} | {met} |")
    failures = data["ci_failures"]
    lines += ["", "CI gate: " + ("passed" if not failures else "FAILED: " + "; ".join(failures))]
    return "\n".join(lines) + "\n"


def plot(data: dict[str, Any], path: Path) -> None:
    """Grouped bars: API requests per effective change, and convergence time, per scenario."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = list(data["scenarios"])
    strategies = list(dict.fromkeys(s for runs in data["scenarios"].values() for s in runs))
    figure, axes = plt.subplots(1, 2, figsize=(13, 4.5))
    width = 0.8 / max(1, len(strategies))
    for axis, key, title in (
        (axes[0], "requests_per_change", "API requests per effective change (log)"),
        (axes[1], "converge_s", "seconds from the first report to the final statuses"),
    ):
        for index, strategy in enumerate(strategies):
            values = [data["scenarios"][s].get(strategy, {}).get(key, 0.0) for s in scenarios]
            axis.bar(
                [x + (index - (len(strategies) - 1) / 2) * width for x in range(len(scenarios))],
                values,
                width,
                label=strategy,
            )
        axis.set_xticks(range(len(scenarios)), scenarios)
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_yscale("log")
    axes[0].axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    axes[0].legend(fontsize="small")
    figure.suptitle(f"statusagg bench ({data['sizes']}), {data['date']}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write(data: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "bench.md").write_text(markdown(data))
    plot(data, out / "bench.png")
