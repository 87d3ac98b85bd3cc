"""The replicas figure: its part of bench.json, its table, and bench-replicas.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aggregator.bench.replicas import ReplicasResult, ReplicasRun


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "**NO**"
    if isinstance(value, float):
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


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


def replicas_markdown(section: dict[str, Any]) -> list[str]:
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
