"""Job status aggregation (Karmada's ParsingJobStatus)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .fields import format_time, get_int, get_maps, get_str, now, parse_time, set_omitempty

COMPLETE = "Complete"
FAILED = "Failed"
SUCCESS_CRITERIA_MET = "SuccessCriteriaMet"
FAILURE_TARGET = "FailureTarget"


def finished_condition(status: Mapping[str, Any], path: str) -> str | None:
    """`Complete` or `Failed` when the Job has finished, else None."""
    for condition in get_maps(status, "conditions", path):
        kind = get_str(condition, "type", path)
        if kind in (COMPLETE, FAILED) and get_str(condition, "status", path) == "True":
            return kind
    return None


def aggregate_job_status(
    current: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The new Job status from the template's current status and the member items.

    One failed member marks the Job Failed; it is Complete when every item completed.
    `startTime` keeps the template's value, else the earliest once every item has one;
    `completionTime` is the latest once every item has one.
    """
    active = succeeded = failed = 0
    failed_clusters: list[str] = []
    completed = success_criteria_met = failure_target = 0
    starts: list[datetime] = []
    completions: list[datetime] = []
    for item in items:
        status = item.get("status")
        if status is None:
            continue
        cluster = item["clusterName"]
        path = f"{cluster}: status"
        active += get_int(status, "active", path)
        succeeded += get_int(status, "succeeded", path)
        failed += get_int(status, "failed", path)
        finished = finished_condition(status, path)
        if finished == COMPLETE:
            completed += 1
        elif finished == FAILED:
            failed_clusters.append(cluster)
        true_types = {
            get_str(condition, "type", path)
            for condition in get_maps(status, "conditions", path)
            if get_str(condition, "status", path) == "True"
        }
        success_criteria_met += SUCCESS_CRITERIA_MET in true_types
        failure_target += FAILURE_TARGET in true_types
        start = parse_time(status.get("startTime"), f"{path}.startTime")
        if start is not None:
            starts.append(start)
        completion = parse_time(status.get("completionTime"), f"{path}.completionTime")
        if completion is not None:
            completions.append(completion)

    result: dict[str, Any] = {}
    conditions: list[dict[str, Any]] = []
    if failed_clusters:
        message = f"Job executed failed in member clusters {','.join(failed_clusters)}"
        if failure_target:
            conditions.append(_condition(FAILURE_TARGET, "JobFailed", message))
        conditions.append(_condition(FAILED, "JobFailed", message))
    if completed and completed == len(items):
        conditions.append(_condition(COMPLETE, "Completed", "Job completed"))
        if success_criteria_met == len(items):
            conditions.append(
                _condition(
                    SUCCESS_CRITERIA_MET,
                    "CompletionsReached",
                    "All member clusters have met success criteria",
                )
            )
    if conditions:
        result["conditions"] = conditions
    current_start = parse_time(current.get("startTime"), "status.startTime")
    if current_start is not None:
        result["startTime"] = format_time(current_start)
    elif starts and len(starts) == len(items):
        result["startTime"] = format_time(min(starts))
    if completions and len(completions) == len(items):
        result["completionTime"] = format_time(max(completions))
    set_omitempty(result, "active", active)
    set_omitempty(result, "succeeded", succeeded)
    set_omitempty(result, "failed", failed)
    return result


def _condition(kind: str, reason: str, message: str) -> dict[str, Any]:
    timestamp = now()
    return {
        "type": kind,
        "status": "True",
        "lastProbeTime": timestamp,
        "lastTransitionTime": timestamp,
        "reason": reason,
        "message": message,
    }
