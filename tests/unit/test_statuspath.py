"""Status field paths as Kubernetes users write them select what deepdiff ignores."""

from __future__ import annotations

from typing import Any

import pytest
from deepdiff import DeepDiff

from aggregator.reconcile import change_summary
from aggregator.statuspath import StatusPathError, ignore_pattern

BEFORE: dict[str, Any] = {
    "replicas": 3,
    "conditions": [
        {"type": "Available", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
        {"type": "Progressing", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
    ],
    "odd.key": 1,
}


def changed(**updates: Any) -> dict[str, Any]:
    after: dict[str, Any] = {
        **BEFORE,
        "conditions": [
            dict(c, lastTransitionTime="2026-02-02T00:00:00Z") for c in BEFORE["conditions"]
        ],
    }
    after.update(updates)
    return after


def differs(path: str, after: dict[str, Any]) -> bool:
    return bool(DeepDiff(BEFORE, after, exclude_regex_paths=[ignore_pattern(path)]))


@pytest.mark.parametrize(
    "path",
    [
        "status.conditions",
        ".status.conditions",
        "$.status.conditions",
        "{.status.conditions}",
        "status.conditions[*].lastTransitionTime",
        "{.status.conditions[*].lastTransitionTime}",
        "status['conditions'][*]['lastTransitionTime']",
        "root['conditions']",
    ],
)
def test_paths_that_cover_every_transition_time(path: str) -> None:
    assert not differs(path, changed())
    assert differs(path, changed(replicas=4)), "other fields still count"


def test_an_index_ignores_only_that_element() -> None:
    assert differs("status.conditions[0].lastTransitionTime", changed())
    only_first = {**BEFORE, "conditions": [changed()["conditions"][0], BEFORE["conditions"][1]]}
    assert not differs("status.conditions[0].lastTransitionTime", only_first)


def test_a_quoted_key_may_hold_dots() -> None:
    assert not differs("status['odd.key']", {**BEFORE, "odd.key": 2})
    assert differs("status['odd.key']", {**BEFORE, "replicas": 1})


def test_change_summary_leaves_out_ignored_fields() -> None:
    summary = change_summary(
        BEFORE, changed(replicas=4), [ignore_pattern("status.conditions[*].lastTransitionTime")]
    )
    assert "replicas" in summary
    assert "lastTransitionTime" not in summary


@pytest.mark.parametrize(
    "path",
    [
        "spec.replicas",
        "status",
        "conditions",
        "status..x",
        "status[x]",
        "status.a b",
        "root['a'][*]",
        "",
    ],
)
def test_bad_paths_are_refused_with_the_path_named(path: str) -> None:
    with pytest.raises(StatusPathError, match="bad status field path"):
        ignore_pattern(path)
