"""Write-war detection: counting overwrites in a window, exponential holds, the end of a war."""

from __future__ import annotations

from aggregator.writewar import WarSettings, WriteWars, other_status_manager


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wars(clock: Clock, **settings: float) -> WriteWars[str]:
    defaults = {"overwrites": 3, "window_s": 60.0, "backoff_base_s": 1.0, "backoff_max_s": 8.0}
    return WriteWars(WarSettings(**{**defaults, **settings}), clock)  # type: ignore[arg-type]


def test_threshold_within_window_starts_one_war() -> None:
    clock = Clock()
    w = wars(clock)
    assert not w.overwritten("a", "rival")
    assert not w.overwritten("a", "rival")
    assert w.hold("a") == 0.0
    assert w.overwritten("a", "rival")
    assert w.hold("a") == 1.0
    assert w.manager("a") == "rival"
    assert w.active() == 1
    assert not w.overwritten("a", "rival")  # the same war goes on: no second start
    assert w.hold("b") == 0.0


def test_overwrites_spread_wider_than_the_window_never_start_a_war() -> None:
    clock = Clock()
    w = wars(clock)
    for _ in range(10):
        assert not w.overwritten("a", "rival")
        clock.now += 31.0
    assert w.hold("a") == 0.0
    assert w.active() == 0


def test_holds_double_up_to_the_cap_and_count_down() -> None:
    clock = Clock()
    w = wars(clock)
    holds = []
    for _ in range(7):
        w.overwritten("a", "rival")
        holds.append(w.hold("a"))
    assert holds == [0.0, 0.0, 1.0, 2.0, 4.0, 8.0, 8.0]
    clock.now += 5.0
    assert w.hold("a") == 3.0
    clock.now += 5.0
    assert w.hold("a") == 0.0


def test_war_ends_when_a_write_stands_for_the_window_after_the_hold() -> None:
    clock = Clock()
    w = wars(clock)
    for _ in range(4):
        w.overwritten("a", "rival")
    clock.now += 2.0 + 60.0  # the hold (2 s) ran out and nobody overwrote for a window
    assert w.active() == 1
    clock.now += 1.0
    assert w.active() == 0
    assert w.manager("a") is None
    assert not w.overwritten("a", "rival")  # counting starts over
    assert w.hold("a") == 0.0


def test_overwrite_soon_after_a_hold_continues_the_war() -> None:
    clock = Clock()
    w = wars(clock)
    for _ in range(3):
        w.overwritten("a", "rival")
    clock.now += 30.0
    assert not w.overwritten("a", "other")
    assert w.hold("a") == 2.0
    assert w.manager("a") == "other"


def test_forget() -> None:
    clock = Clock()
    w = wars(clock)
    for _ in range(3):
        w.overwritten("a", "rival")
    w.forget("a")
    assert w.hold("a") == 0.0
    assert w.active() == 0


def entry(manager: str, time: str, subresource: str = "status") -> dict[str, str]:
    return {"manager": manager, "operation": "Update", "time": time, "subresource": subresource}


def test_other_status_manager_is_the_latest_status_writer_not_statusagg() -> None:
    obj = {
        "metadata": {
            "managedFields": [
                entry("kubectl", "2026-01-01T00:00:09Z", subresource=""),
                entry("old-controller", "2026-01-01T00:00:01Z"),
                entry("rival", "2026-01-01T00:00:05Z"),
                entry("statusagg", "2026-01-01T00:00:08Z"),
                entry("statusagg/replica-2", "2026-01-01T00:00:08Z"),
                entry("mine", "2026-01-01T00:00:08Z"),
            ]
        }
    }
    assert other_status_manager(obj, own="mine") == "rival"
    assert other_status_manager({"metadata": {}}) is None
    only_ours = {"metadata": {"managedFields": [entry("statusagg", "2026-01-01T00:00:08Z")]}}
    assert other_status_manager(only_ours) is None
