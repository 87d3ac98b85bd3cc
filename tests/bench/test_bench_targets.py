"""The bench's statistics and its CI gate on hand-made results (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from aggregator.bench.stats import spread
from aggregator.bench.targets import ci_failures, evaluate
from aggregator.bench.variants import all_variants, by_name


def test_spread_is_the_median_and_inclusive_quartiles() -> None:
    assert spread([3.0, 1.0, 2.0]).json() == {"median": 2.0, "q1": 1.5, "q3": 2.5, "samples": 3}
    assert spread([5.0]).iqr == 0.0
    assert spread([]).samples == 0


def _run(round_: int, converge_s: float, **extra: Any) -> dict[str, Any]:
    return {"round": round_, "converge_s": converge_s, "correct": True, "timed_out": False} | extra


def _cell(runs: list[dict[str, Any]], rpc: float = 1.0, conflicts: int = 0) -> dict[str, Any]:
    median = {"requests_per_change": rpc, "conflicts": conflicts, "status_writes": 10}
    return {
        "median": median,
        "conflicts_max": conflicts,
        "correct": all(run["correct"] for run in runs),
        "converge_vs_limit": {"median": 1.0, "q1": 1.0, "q3": 1.0, "samples": len(runs)},
        "runs": runs,
    }


def _data(
    ratio: dict[str, float], scenario: str = "burst", **cells: dict[str, Any]
) -> dict[str, Any]:
    variants = {name.replace("__", "/"): cell for name, cell in cells.items()}
    section = {
        "resources": 10,
        "effective_changes": 10,
        "variants": variants,
        "vs_best_baseline": {
            "equal": {
                "service": "statusagg/tuned",
                "best_baseline": "karmada/equal",
                "converge_ratio": ratio | {"samples": 3},
            }
        },
    }
    return {
        "variants": {v.name: v.describe() for v in all_variants()},
        "scenarios": {scenario: section},
    }


def _gated(data: dict[str, Any]) -> dict[str, tuple[float, bool]]:
    return {t.name: (t.value, t.met) for t in evaluate(data) if t.gate}


def test_slower_than_the_best_baseline_by_more_than_the_spread_misses_the_target() -> None:
    runs = [_run(r, 1.0) for r in range(3)]
    within = _data(
        {"median": 1.1, "q1": 1.0, "q3": 1.2},
        statusagg__tuned=_cell(runs),
        karmada__equal=_cell(runs),
    )
    beyond = _data(
        {"median": 1.1, "q1": 1.05, "q3": 1.12},
        statusagg__tuned=_cell(runs),
        karmada__equal=_cell(runs),
    )
    speed = "burst: statusagg/tuned converge_s / karmada/equal's"

    def judged(data: dict[str, Any]) -> list[tuple[bool, bool]]:
        return [(t.met, t.gate) for t in evaluate(data) if t.name.startswith(speed)]

    assert judged(within) == [(True, False)]
    assert judged(beyond) == [(False, False)], "reported, not gated"


@pytest.mark.parametrize(("rpc", "conflicts", "failures"), [(1.0, 0, 0), (1.06, 0, 1), (1.0, 1, 1)])
def test_requests_per_change_at_defaults_and_self_inflicted_conflicts_are_gated(
    rpc: float, conflicts: int, failures: int
) -> None:
    runs = [_run(r, 1.0) for r in range(3)]
    data = _data(
        {"median": 1.0, "q1": 1.0, "q3": 1.0},
        statusagg__defaults=_cell(runs, rpc, conflicts),
        statusagg__tuned=_cell(runs, 1.5),  # reported, not gated
        karmada__equal=_cell(runs),
    )
    data["targets"] = [t.json() for t in evaluate(data)]
    assert len(ci_failures(data)) == failures


def test_a_client_limited_baseline_that_runs_out_of_time_is_reported_not_failed() -> None:
    late = [_run(0, 120.0, correct=False, timed_out=True)]
    data = _data(
        {"median": 1.0, "q1": 1.0, "q3": 1.0},
        karmada__defaults=_cell(late),
        statusagg__tuned=_cell(late),
        karmada__equal=_cell([_run(0, 1.0, correct=False)]),
    )
    data["targets"] = []
    failures = ci_failures(data)
    assert [f.split(":")[0] for f in failures] == ["burst/statusagg/tuned", "burst/karmada/equal"]
    assert by_name("karmada/defaults").qps == 40


def test_the_speed_target_allows_for_noise() -> None:
    runs = [_run(r, 1.0) for r in range(3)]
    cells = {"statusagg__tuned": _cell(runs), "karmada__equal": _cell(runs)}

    def met(median: float) -> list[bool]:
        ratio = {"median": median, "q1": median, "q3": median}
        return [
            t.met
            for t in evaluate(_data(ratio, **cells))
            if "converge_s / karmada/equal's" in t.name
        ]

    assert met(1.04) == [True], "within the noise floor of 0.05"
    assert met(1.06) == [False]


def test_contention_counts_requests_less_those_the_other_writers_409s_force() -> None:
    runs = [_run(r, 1.0) for r in range(3)]
    data = _data(
        {"median": 1.0, "q1": 1.0, "q3": 1.0},
        "contention",
        statusagg__defaults=_cell(runs, rpc=1.4, conflicts=2),
    )
    [target] = [t for t in evaluate(data) if "requests per effective change" in t.name]
    assert target.value == pytest.approx(1.0)
    assert target.met
    assert target.gate
