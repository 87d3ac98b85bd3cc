"""The results as bench.json, bench.md (a table per scenario) and bench.png (bars per strategy),
and the replicas figure as bench-replicas.png."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aggregator.bench.ingest import IngestResult
from aggregator.bench.replicas import ReplicasResult, ReplicasRun
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


def _replicas_run_json(run: ReplicasRun, base_writes_per_s: float | None) -> dict[str, Any]:
    """Per burst values are medians over the bursts."""
    writes_per_s = run.median(lambda b: b.writes_per_s)
    sent = run.median(lambda b: b.items_sent)
    forwarded = run.median(lambda b: b.forwarded_items)
    return {
        "replicas": run.replicas,
        "resources": run.resources,
        "effective_changes": round(run.median(lambda b: b.effective_changes)),
        "converge_s": round(run.median(lambda b: b.converge_s), 3),
        "writes_per_s": round(writes_per_s, 1),
        "speedup": round(writes_per_s / base_writes_per_s, 2) if base_writes_per_s else None,
        "status_writes": round(run.median(lambda b: b.status_writes)),
        "event_writes": round(run.median(lambda b: b.event_writes)),
        "conflicts": round(run.median(lambda b: b.conflicts)),
        "items_sent": round(sent),
        "forwarded_items": round(forwarded),
        "forwarded_share": round(forwarded / sent, 3) if sent else 0.0,
        "replicas_cpu_s": round(run.median(lambda b: sum(b.replicas_cpu_s)), 3),
        "apiserver_cpu_s": round(run.median(lambda b: b.apiserver_cpu_s), 3),
        "bench_cpu_s": round(run.median(lambda b: b.bench_cpu_s), 3),
        "bursts": [
            {
                "converge_s": round(b.converge_s, 3),
                "writes_per_s": round(b.writes_per_s, 1),
                "status_writes": b.status_writes,
                "forwarded_items": b.forwarded_items,
                "replica_cpu_s": [round(cpu, 3) for cpu in b.replicas_cpu_s],
                "apiserver_cpu_s": round(b.apiserver_cpu_s, 3),
                "view_changes": b.view_changes,
                "fenced": b.fenced,
                "resyncs": b.resyncs,
                "retries": b.retries,
                "correct": b.correct,
            }
            for b in run.bursts
        ],
        "ready_s": round(run.ready_s, 2),
        "correct": run.correct,
        "error": run.error,
    }


def replicas_json(result: ReplicasResult) -> dict[str, Any]:
    base = next((r for r in result.runs if r.replicas == 1 and r.correct), None)
    base_writes_per_s = base.median(lambda b: b.writes_per_s) if base else None
    return {
        "resources": result.resources,
        "clusters": result.clusters,
        "bursts": result.bursts,
        "serve_args": result.serve_args,
        "elapsed_s": round(result.elapsed_s, 1),
        "runs": [_replicas_run_json(run, base_writes_per_s) for run in result.runs],
    }


def to_json(
    matrix: MatrixResult,
    ingest: IngestResult | None,
    settings: ServiceSettings,
    command: str,
    replicas: ReplicasResult | None = None,
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
    if replicas is not None:
        data["replicas"] = replicas_json(replicas)
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
    if "replicas" in data:
        lines += ["", *_replicas_markdown(data["replicas"])]
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


_REPLICA_COLUMNS = (
    ("replicas", "replicas"),
    ("resources", "resources"),
    ("converge s", "converge_s"),
    ("writes/s", "writes_per_s"),
    ("speedup vs 1", "speedup"),
    ("forwarded items", "forwarded_items"),
    ("status writes", "status_writes"),
    ("replicas CPU s", "replicas_cpu_s"),
    ("API server CPU s", "apiserver_cpu_s"),
    ("correct", "correct"),
)


def _replicas_markdown(section: dict[str, Any]) -> list[str]:
    lines = [
        "## replicas (sharded, one process each)",
        "",
        f"{section['resources']:,} templates x {section['clusters']} clusters; a burst changes "
        f"every item; per burst, median of {section['bursts']} bursts; "
        f"`statusagg serve --shard {' '.join(section['serve_args'])}`.",
        "",
        "| " + " | ".join(title for title, _ in _REPLICA_COLUMNS) + " |",
        "|" + "---|" * len(_REPLICA_COLUMNS),
    ]
    for run in section["runs"]:
        cells = []
        for _, key in _REPLICA_COLUMNS:
            value = run[key]
            if key == "speedup":
                cells.append("-" if value is None else f"{value:.2f}")
            elif key == "forwarded_items":
                cells.append(f"{value:,} ({run['forwarded_share']:.0%})")
            else:
                cells.append(_cell(value))
        lines.append("| " + " | ".join(cells) + " |")
    errors = [f"{run['replicas']}: {run['error']}" for run in section["runs"] if run["error"]]
    if errors:
        lines += ["", "Failed: " + "; ".join(errors)]
    return lines


def plot_replicas(data: dict[str, Any], path: Path) -> None:
    """Effective status writes per second per replica count, and where the CPU went."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [run for run in data["replicas"]["runs"] if run["correct"]]
    positions = list(range(len(runs)))
    labels = [str(run["replicas"]) for run in runs]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    bars = left.bar(positions, [run["writes_per_s"] for run in runs], color="tab:blue")
    for bar, run in zip(bars, runs, strict=True):
        if run["speedup"] is not None:
            left.annotate(
                f"x{run['speedup']:.2f}",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
            )
    ceiling = data.get("limit", {}).get("status_puts_per_s")
    if ceiling:
        left.axhline(
            ceiling,
            color="black",
            linewidth=0.8,
            linestyle="--",
            label="limit: PUT/s of one process, 32 in flight",
        )
        left.legend(fontsize="small", loc="lower right")
    left.set_title("effective status writes per second (median burst)")
    bottom = [0.0] * len(runs)
    for key, name in (
        ("apiserver_cpu_s", "API server"),
        ("replicas_cpu_s", "replicas"),
        ("bench_cpu_s", "agents + watch"),
    ):
        values = [run[key] for run in runs]
        right.bar(positions, values, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    cpus = data["machine"]["cpus"] or 1
    available = [run["converge_s"] * cpus for run in runs]
    right.plot(positions, available, "ko", label=f"converge s x {cpus} CPUs")
    right.set_ylim(0, 1.4 * max([*bottom, *available, 0.1]))
    right.set_title("CPU seconds per burst (medians)")
    right.legend(fontsize="small", loc="upper center", ncol=2)
    for axis in (left, right):
        axis.set_xticks(positions, labels)
        axis.set_xlabel("replicas")
        axis.grid(axis="y", alpha=0.3)
    section = data["replicas"]
    figure.suptitle(
        f"statusagg replicas: {section['resources']:,} templates x {section['clusters']} clusters "
        f"per burst, {cpus} CPUs, {data['date']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


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
    if strategies:
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
    if "replicas" in data:
        plot_replicas(data, out / "bench-replicas.png")
