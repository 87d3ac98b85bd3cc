"""The issue's targets for statusagg, judged on one run's bench.json, and the CI gate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SERVICE = "statusagg"
BASELINE = "karmada"
QUIET_SCENARIOS = ("unchanged", "steady", "spam", "burst")
MAX_REQUESTS_PER_CHANGE = 1.05
MAX_CONTENTION_CONFLICTS = 0.05
BURST_SLACK = 1.25
SPAM_WRITES_PER_RESOURCE = 2
INGEST_UNCHANGED = 100_000
INGEST_CHANGED = 20_000
BYTES_PER_ITEM = 1024


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    goal: str
    met: bool


def evaluate(data: dict[str, Any]) -> list[Target]:
    """Every target that the results allow to judge (a scenario not run is left out)."""
    found: list[Target] = []
    scenarios = data["scenarios"]
    for name, runs in scenarios.items():
        run = runs.get(SERVICE)
        if run is None:
            continue
        found.append(
            Target(
                f"{name}: API requests per effective change",
                run["requests_per_change"],
                f"<= {MAX_REQUESTS_PER_CHANGE}",
                run["requests_per_change"] <= MAX_REQUESTS_PER_CHANGE,
            )
        )
        if name in QUIET_SCENARIOS:
            found.append(Target(f"{name}: conflicts", run["conflicts"], "0", run["conflicts"] == 0))
        if name == "contention":
            share = run["conflicts"] / max(1, run["status_writes"])
            found.append(
                Target(
                    "contention: conflicts per status write (and correct)",
                    share,
                    f"< {MAX_CONTENTION_CONFLICTS}",
                    share < MAX_CONTENTION_CONFLICTS and run["correct"],
                )
            )
        if name == "spam":
            per_resource = run["status_writes"] / run["resources"]
            found.append(
                Target(
                    "spam: status writes per resource",
                    per_resource,
                    f"<= {SPAM_WRITES_PER_RESOURCE}",
                    per_resource <= SPAM_WRITES_PER_RESOURCE,
                )
            )
        if name == "burst":
            found += _burst(run, runs, data["limit"]["status_puts_per_s"])
    ingest = data.get("ingest")
    if ingest:
        found.append(
            Target(
                "ingest: unchanged reports/s",
                ingest["reports_per_s_unchanged"],
                f">= {INGEST_UNCHANGED:,}",
                ingest["reports_per_s_unchanged"] >= INGEST_UNCHANGED,
            )
        )
        found.append(
            Target(
                "ingest: changed reports/s",
                ingest["reports_per_s_changed"],
                f">= {INGEST_CHANGED:,}",
                ingest["reports_per_s_changed"] >= INGEST_CHANGED,
            )
        )
    memory = data.get("memory")
    if memory:
        found.append(
            Target(
                f"memory: RSS bytes per stored item at {memory['items']:,} items",
                memory["rss_bytes_per_item"],
                f"< {BYTES_PER_ITEM}",
                memory["rss_bytes_per_item"] < BYTES_PER_ITEM,
            )
        )
    return found


def _burst(run: dict[str, Any], runs: dict[str, Any], puts_per_s: float) -> list[Target]:
    ceiling = run["effective_changes"] / puts_per_s
    found = [
        Target(
            "burst: converge_s / (effective changes / limit PUTs per s)",
            run["converge_s"] / ceiling,
            f"<= {BURST_SLACK}",
            run["converge_s"] <= BURST_SLACK * ceiling,
        )
    ]
    for other in (BASELINE, "cache_first"):
        if other in runs:
            found.append(
                Target(
                    f"burst: converge_s vs {other}",
                    run["converge_s"] / max(1e-9, runs[other]["converge_s"]),
                    "< 1",
                    run["converge_s"] < runs[other]["converge_s"],
                )
            )
    return found


def ci_failures(data: dict[str, Any]) -> list[str]:
    """What fails CI: a strategy or a replica count ending incorrect, or statusagg writing more
    than karmada."""
    failures: list[str] = []
    for name, runs in data["scenarios"].items():
        for strategy, run in runs.items():
            if not run["correct"]:
                failures.append(f"{name}/{strategy}: templates did not end at the expected status")
        service, baseline = runs.get(SERVICE), runs.get(BASELINE)
        if service and baseline:
            ours = service["status_writes"] + service["event_writes"]
            theirs = baseline["status_writes"] + baseline["event_writes"]
            if ours > theirs:
                failures.append(f"{name}: statusagg made {ours} writes, karmada {theirs}")
    for run in data.get("replicas", {}).get("runs", []):
        if not run["correct"]:
            reason = run["error"] or "templates did not end at the expected status"
            failures.append(f"replicas {run['replicas']}: {reason}")
    return failures
