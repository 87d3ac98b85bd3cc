"""statusagg's targets, judged on one bench.json, and the CI gate (the targets marked ``gate``
plus correctness everywhere)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from aggregator.bench.variants import DEFAULTS, SERVICE, TUNED

AT_DEFAULTS = f"{SERVICE}/{DEFAULTS}"
TUNED_NAME = f"{SERVICE}/{TUNED}"
CONTENDED = ("contention",)  # another writer: 409s there are not self-inflicted
SPEED_NOISE_FLOOR = 0.05  # the least spread allowed for, whatever the quartiles of 3 rounds
MAX_REQUESTS_PER_CHANGE = 1.05
MAX_CONTENTION_CONFLICTS = 0.05
BURST_SLACK = 1.25
SPAM_WRITES_PER_RESOURCE = 2
INGEST_BATCH = 1000
INGEST_UNCHANGED = 100_000
INGEST_CHANGED = 20_000
BYTES_PER_ITEM = 1024


@dataclass(frozen=True)
class Target:
    name: str
    value: float
    goal: str
    met: bool
    gate: bool = False  # CI fails when a gate is not met

    def json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _scenario(name: str, section: dict[str, Any]) -> list[Target]:
    found: list[Target] = []
    variants = section["variants"]
    for variant in (AT_DEFAULTS, TUNED_NAME):
        cell = variants.get(variant)
        if cell is None:
            continue
        rpc = cell["median"]["requests_per_change"]
        label = "API requests per effective change (median)"
        if name in CONTENDED:  # the re-read and the re-write another writer's 409 forces
            forced = 2 * cell["median"]["conflicts"] / max(1.0, section["effective_changes"])
            rpc -= forced
            label = "API requests per effective change, less two per 409 (median)"
        found.append(
            Target(
                f"{name}: {variant} {label}",
                rpc,
                f"<= {MAX_REQUESTS_PER_CHANGE}",
                rpc <= MAX_REQUESTS_PER_CHANGE,
                gate=variant == AT_DEFAULTS,
            )
        )
        if name in CONTENDED:
            share = cell["median"]["conflicts"] / max(1.0, cell["median"]["status_writes"])
            found.append(
                Target(
                    f"{name}: {variant} conflicts per status write (median, and correct)",
                    share,
                    f"< {MAX_CONTENTION_CONFLICTS}",
                    share < MAX_CONTENTION_CONFLICTS and cell["correct"],
                )
            )
        else:
            found.append(
                Target(
                    f"{name}: {variant} self-inflicted 409s (most in a run)",
                    cell["conflicts_max"],
                    "0",
                    cell["conflicts_max"] == 0,
                    gate=True,
                )
            )
    spam = variants.get(AT_DEFAULTS)
    if name == "spam" and spam is not None:
        per_resource = spam["median"]["status_writes"] / section["resources"]
        found.append(
            Target(
                f"spam: {AT_DEFAULTS} status writes per resource (median)",
                per_resource,
                f"<= {SPAM_WRITES_PER_RESOURCE}",
                per_resource <= SPAM_WRITES_PER_RESOURCE,
            )
        )
    tuned = variants.get(TUNED_NAME)
    if name == "burst" and tuned is not None and tuned["converge_vs_limit"]["samples"]:
        ratio = tuned["converge_vs_limit"]["median"]
        found.append(
            Target(
                f"burst: {TUNED_NAME} converge_s / limit's converge_s (same round, median)",
                ratio,
                f"<= {BURST_SLACK}",
                ratio <= BURST_SLACK,
            )
        )
    for comparison in section.get("vs_best_baseline", {}).values():
        ratio = comparison["converge_ratio"]
        if not ratio["samples"]:
            continue
        allowed = 1 + max(ratio["q3"] - ratio["q1"], SPEED_NOISE_FLOOR)
        found.append(
            Target(
                f"{name}: {comparison['service']} converge_s / {comparison['best_baseline']}'s "
                "(fastest baseline at the same setting; same round, median)",
                ratio["median"],
                f"<= 1 + max(IQR, {SPEED_NOISE_FLOOR}) = {allowed:.2f}",
                ratio["median"] <= allowed,
            )
        )
    return found


def evaluate(data: dict[str, Any]) -> list[Target]:
    """Every target the results allow to judge (a scenario or variant not run is left out)."""
    found: list[Target] = []
    for name, section in data["scenarios"].items():
        found += _scenario(name, section)
    ingest = data.get("ingest")
    at = next((b for b in (ingest or {}).get("batches", []) if b["batch"] == INGEST_BATCH), None)
    if at is not None:
        found.append(
            Target(
                f"ingest: unchanged reports/s (batches of {INGEST_BATCH:,})",
                at["unchanged_per_s"],
                f">= {INGEST_UNCHANGED:,}",
                at["unchanged_per_s"] >= INGEST_UNCHANGED,
            )
        )
        found.append(
            Target(
                f"ingest: changed reports/s to the queue drained (batches of {INGEST_BATCH:,})",
                at["changed_per_s"],
                f">= {INGEST_CHANGED:,}",
                at["changed_per_s"] >= INGEST_CHANGED,
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


def _paced(data: dict[str, Any], variant: str) -> bool:
    """Whether ``variant`` is a baseline held back by a client-side limit: too slow to converge
    within the time a run is given is its measured behaviour, not a wrong status."""
    settings = data["variants"].get(variant, {})
    return bool(settings.get("client_qps")) and settings.get("strategy") != SERVICE


def ci_failures(data: dict[str, Any]) -> list[str]:
    """What fails CI: a run or a replica count ending incorrect (a client-limited baseline that
    ran out of time excepted: it is reported as timed out), or a gate target not met."""
    failures: list[str] = []
    for name, section in data["scenarios"].items():
        for variant, cell in section["variants"].items():
            wrong = [
                run["round"] + 1
                for run in cell["runs"]
                if not run["correct"] and not (run["timed_out"] and _paced(data, variant))
            ]
            if wrong:
                failures.append(
                    f"{name}/{variant}: templates did not end at the expected status "
                    f"(round {', '.join(map(str, wrong))})"
                )
    for target in data.get("targets", []):
        if target["gate"] and not target["met"]:
            failures.append(f"{target['name']}: {target['value']:.3g} (goal {target['goal']})")
    for run in data.get("replicas", {}).get("runs", []):
        if not run["correct"]:
            reason = run["error"] or "templates did not end at the expected status"
            failures.append(f"replicas {run['replicas']}: {reason}")
    return failures
