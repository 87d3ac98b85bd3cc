"""bench.json as bench.md (a table per scenario, medians with their interquartile range) and
one plot per scenario with error bars (bench-<scenario>.png)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from aggregator.bench.report_replicas import plot_replicas, replicas_markdown

_COLUMNS = (
    ("variant", None),
    ("workers", None),
    ("client QPS/burst", None),
    ("req/change", "requests_per_change"),
    ("status writes", "status_writes"),
    ("events", "event_writes"),
    ("Work+binding writes", "karmada_writes"),
    ("requests by verb", None),
    ("409s (max)", None),
    ("converge s", "converge_s"),
    ("vs limit", None),
    ("p50 ms", "latency_ms_p50"),
    ("p99 ms", "latency_ms_p99"),
    ("strategy CPU s", "cpu_s"),
    ("bench CPU s", "observer_cpu_s"),
    ("API server CPU s", "apiserver_cpu_s"),
    ("peak RSS MB", "peak_rss_mb"),
    ("correct", None),
)


def number(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"


def with_spread(median: float, q1: float, q3: float) -> str:
    """``median [q1-q3]``, or the median alone when the quartiles agree."""
    if number(q1) == number(q3):
        return number(median)
    return f"{number(median)} [{number(q1)}-{number(q3)}]"


def _metric(cell: dict[str, Any], key: str) -> str:
    return with_spread(cell["median"][key], cell["q1"][key], cell["q3"][key])


def _row(name: str, cell: dict[str, Any], settings: dict[str, Any]) -> str:
    limit = (
        f"{number(settings['client_qps'])}/{number(settings['client_burst'])}"
        if settings.get("client_qps")
        else "none"
    )
    ratio = cell["converge_vs_limit"]
    cells = [
        name,
        str(settings["workers"]),
        limit,
        *(
            _metric(cell, key)
            if key
            else {
                "requests by verb": " ".join(f"{v} {c}" for v, c in cell["api_requests"].items())
                or "-",
                "409s (max)": str(cell["conflicts_max"]),
                "vs limit": with_spread(ratio["median"], ratio["q1"], ratio["q3"])
                if ratio["samples"]
                else "-",
                "correct": "yes"
                if cell["correct"]
                else f"timed out ({cell['timed_out']} of {len(cell['runs'])})"
                if cell["timed_out"]
                else "**NO**",
            }[title]
            for title, key in _COLUMNS[3:]
        ),
    ]
    return "| " + " | ".join(cells) + " |"


def scenario_markdown(name: str, section: dict[str, Any], variants: dict[str, Any]) -> list[str]:
    lines = [
        f"### {name}",
        "",
        f"{section['resources']:,} templates x {section['clusters']} member clusters, "
        f"{section['reports']:,} reports, {section['effective_changes']:,} effective changes.",
    ]
    puts = section.get("limit_puts_per_s")
    if puts:
        lines[-1] += (
            f" `limit`: {with_spread(puts['median'], puts['q1'], puts['q3'])} status PUTs/s."
        )
    lines += [
        "",
        "| " + " | ".join(title for title, _ in _COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    lines += [_row(v, cell, variants[v]) for v, cell in section["variants"].items()]
    comparisons = section.get("vs_best_baseline", {})
    if comparisons:
        lines.append("")
    for setting, comparison in comparisons.items():
        ratio = comparison["converge_ratio"]
        lines.append(
            f"- {setting}: `{comparison['service']}` took "
            f"{with_spread(ratio['median'], ratio['q1'], ratio['q3'])} x the convergence time of "
            f"`{comparison['best_baseline']}`, the fastest baseline (per round)."
        )
    return lines


def ingest_markdown(data: dict[str, Any]) -> list[str]:
    ingest, memory = data["ingest"], data["memory"]
    lines = [
        "| batch size | items | unchanged reports/s | changed reports/s (to queue drained) "
        "| service CPU s, unchanged | service CPU s, changed |",
        "|---|---|---|---|---|---|",
    ]
    for b in ingest["batches"]:
        lines.append(
            f"| {b['batch']:,} | {b['items']:,} | {b['unchanged_per_s']:,} | "
            f"{b['changed_per_s']:,} | {number(b['unchanged_cpu_s'])} | "
            f"{number(b['changed_cpu_s'])} |"
        )
    lines += [
        "",
        f"RSS per stored member item at {memory['items']:,} items: "
        f"**{memory['rss_bytes_per_item']:,} bytes**.",
    ]
    return lines


def targets_markdown(data: dict[str, Any]) -> list[str]:
    lines = ["| target | value | goal | met | CI gate |", "|---|---|---|---|---|"]
    for target in data["targets"]:
        met = "yes" if target["met"] else "**no**"
        gate = "yes" if target["gate"] else ""
        lines.append(
            f"| {target['name']} | {number(target['value'])} | {target['goal']} | {met} | {gate} |"
        )
    failures = data["ci_failures"]
    lines += ["", "CI gate: " + ("passed" if not failures else "FAILED: " + "; ".join(failures))]
    return lines


def summary(data: dict[str, Any]) -> str:
    rounds = data["rounds"]
    return (
        f"`{data['command']}`, {data['date']}, {data['machine']['cpus']} CPUs, Python "
        f"{data['machine']['python']}: {rounds} round{'s' if rounds > 1 else ''} of every run in "
        f"a random order (seed {data['seed']}); every figure is the median over the rounds, "
        "with the interquartile range in brackets where it is not a single value"
        + (
            f"; the whole bench took {data['elapsed_s'] / 60:.1f} min"
            if "elapsed_s" in data
            else ""
        )
        + "."
    )


def body_markdown(data: dict[str, Any], level: int = 2) -> list[str]:
    """The scenario tables, ingest, replicas and targets, headings starting at ``level``."""
    head = "#" * level
    lines: list[str] = []
    for name, section in data["scenarios"].items():
        lines += ["", *scenario_markdown(name, section, data["variants"])]
    if "ingest" in data:
        lines += ["", f"{head}# ingest and memory (statusagg at its defaults, alone)", ""]
        lines += ingest_markdown(data)
    if "replicas" in data:
        lines += ["", *replicas_markdown(data["replicas"])]
    lines += ["", f"{head}# statusagg targets", "", *targets_markdown(data)]
    return lines


def markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# statusagg benchmark ({data['sizes']})",
        "",
        summary(data) + " What each number means: docs/benchmarks.md.",
        *body_markdown(data),
    ]
    return "\n".join(lines) + "\n"


def plot_scenario(data: dict[str, Any], name: str, path: Path) -> None:
    """Per variant: API requests per effective change and convergence time, medians with the
    interquartile range as error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    section = data["scenarios"][name]
    names = list(section["variants"])
    cells = [section["variants"][v] for v in names]
    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = [
        "tab:green" if v.startswith("statusagg") else "tab:gray" if v == "limit" else "tab:blue"
        for v in names
    ]
    for axis, key, title in (
        (axes[0], "requests_per_change", "API requests per effective change"),
        (axes[1], "converge_s", "seconds from the first report to the final statuses"),
    ):
        medians = [cell["median"][key] for cell in cells]
        below = [cell["median"][key] - cell["q1"][key] for cell in cells]
        above = [cell["q3"][key] - cell["median"][key] for cell in cells]
        axis.bar(range(len(names)), medians, color=colors, yerr=[below, above], capsize=3)
        axis.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize="small")
        axis.set_title(title)
        axis.grid(axis="y", alpha=0.3)
    axes[0].axhline(1.0, color="black", linewidth=0.8, linestyle="--")
    figure.suptitle(
        f"{name}: {section['resources']:,} templates x {section['clusters']} clusters "
        f"({data['sizes']}, median and IQR of {data['rounds']} rounds), {data['date']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def pictures(data: dict[str, Any]) -> list[str]:
    """The file names ``write`` produces besides bench.json and bench.md."""
    names = [f"bench-{name}.png" for name in data["scenarios"]]
    return names + (["bench-replicas.png"] if "replicas" in data else [])


def write(data: dict[str, Any], out: Path, *, with_json: bool = True) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if with_json:
        (out / "bench.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / "bench.md").write_text(markdown(data))
    for name in data["scenarios"]:
        plot_scenario(data, name, out / f"bench-{name}.png")
    if "replicas" in data:
        plot_replicas(data, out / "bench-replicas.png")
