"""WorkQueue: client-go workqueue semantics on asyncio (pure logic, no API server).

Timing tests never depend on a sleep being long enough: a delay is checked by a short
``wait_for`` timing out (the key is not due yet) and by the monotonic clock having advanced
at least the delay when the key finally comes out (``get`` never returns a key before it is due).
"""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.metrics import Metrics
from aggregator.workqueue import ShutDown, WorkQueue

GET_TIMEOUT = 1.0  # generous: only reached if a test is about to fail


async def get(q: WorkQueue[str]) -> str:
    return await asyncio.wait_for(q.get(), GET_TIMEOUT)


async def assert_nothing_due(q: WorkQueue[str], within: float = 0.01) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(q.get(), within)


# --- basics -----------------------------------------------------------------------------


async def test_added_key_is_returned_and_in_flight() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert len(q) == 1
    assert q.in_flight == 0
    assert await get(q) == "a"
    assert len(q) == 0
    assert q.in_flight == 1
    q.done("a")
    assert q.in_flight == 0
    await assert_nothing_due(q)


async def test_distinct_keys_come_out_in_insertion_order() -> None:
    q: WorkQueue[str] = WorkQueue()
    for key in "abcde":
        q.add(key)
    assert [await get(q) for _ in range(5)] == list("abcde")


async def test_key_added_many_times_while_waiting_is_held_once() -> None:
    q: WorkQueue[str] = WorkQueue()
    for _ in range(50):
        q.add("a")
    q.add("b")
    assert len(q) == 2
    assert await get(q) == "a"
    assert await get(q) == "b"
    await assert_nothing_due(q)


async def test_get_blocks_until_a_key_is_added() -> None:
    q: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    q.add("a")
    assert await asyncio.wait_for(waiter, GET_TIMEOUT) == "a"


async def test_cancelled_get_leaves_the_queue_intact() -> None:
    q: WorkQueue[str] = WorkQueue()
    await assert_nothing_due(q)  # cancels a blocked get
    q.add("a")
    assert await get(q) == "a"
    assert q.in_flight == 1


async def test_many_waiting_getters_each_get_a_different_key() -> None:
    q: WorkQueue[str] = WorkQueue()
    getters = [asyncio.create_task(q.get()) for _ in range(3)]
    await asyncio.sleep(0)
    for key in "xyz":
        q.add(key)
    got = await asyncio.wait_for(asyncio.gather(*getters), GET_TIMEOUT)
    assert sorted(got) == ["x", "y", "z"]
    assert q.in_flight == 3


# --- one in flight per key; re-queue when added while in flight ------------------------


async def test_key_in_flight_is_not_handed_out_again() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await get(q) == "a"
    q.add("a")
    q.add("b")
    assert await get(q) == "b"  # another key is fine
    await assert_nothing_due(q)  # "a" is still in flight
    assert len(q) == 0  # the re-add is remembered, not queued
    assert q.in_flight == 2


async def test_key_added_while_in_flight_is_requeued_once_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await get(q) == "a"
    for _ in range(10):
        q.add("a")
    q.done("a")
    assert len(q) == 1
    assert await get(q) == "a"
    q.done("a")
    await assert_nothing_due(q)


async def test_done_without_new_add_does_not_requeue() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await get(q) == "a"
    assert q.done("a") is None
    assert len(q) == 0
    await assert_nothing_due(q)


async def test_concurrent_workers_never_share_a_key_and_lose_no_add() -> None:
    """Every add is followed by a run of its key that starts after it; no key runs twice at once."""
    q: WorkQueue[int] = WorkQueue()
    keys = range(5)
    version = dict.fromkeys(keys, 0)  # bumped on every add
    seen = dict.fromkeys(keys, 0)  # version observed when a run of the key started
    running: set[int] = set()
    runs = 0

    async def worker() -> None:
        nonlocal runs
        while True:
            try:
                key = await q.get()
            except ShutDown:
                return
            assert key not in running
            running.add(key)
            seen[key] = version[key]
            runs += 1
            for _ in range(key + 1):  # hold the key across a few scheduling points
                await asyncio.sleep(0)
            running.discard(key)
            q.done(key)

    workers = [asyncio.create_task(worker()) for _ in range(3)]
    for i in range(400):
        key = (i * 7) % 5
        version[key] += 1
        q.add(key)
        if i % 3 == 0:
            await asyncio.sleep(0)

    async def idle() -> None:
        while len(q) or q.in_flight:  # noqa: ASYNC110 - a condition poll, bounded below
            await asyncio.sleep(0)

    await asyncio.wait_for(idle(), 5)
    q.shut_down()
    await asyncio.wait_for(asyncio.gather(*workers), GET_TIMEOUT)
    assert seen == version
    assert runs < 400  # adds were coalesced


# --- coalescing delay and minimum interval ---------------------------------------------


async def test_coalescing_delay_holds_the_key_then_releases_it() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=0.1)
    start = time.monotonic()
    q.add("a")
    await assert_nothing_due(q)
    assert await get(q) == "a"
    assert time.monotonic() >= start + 0.1


async def test_adds_during_the_coalescing_delay_fold_into_one_run() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=0.05)
    start = time.monotonic()
    q.add("a")
    for _ in range(20):
        q.add("a")
        await asyncio.sleep(0)
    assert len(q) == 1
    assert await get(q) == "a"
    assert time.monotonic() >= start + 0.05
    q.done("a")
    await assert_nothing_due(q)


async def test_min_interval_spaces_the_starts_of_two_runs_of_one_key() -> None:
    q: WorkQueue[str] = WorkQueue(min_interval_s=0.1)
    q.add("a")
    before = time.monotonic()
    assert await get(q) == "a"  # the first run is not delayed
    q.done("a")
    q.add("a")
    await assert_nothing_due(q)
    assert await get(q) == "a"
    assert time.monotonic() >= before + 0.1


async def test_min_interval_applies_to_a_requeue_after_done() -> None:
    q: WorkQueue[str] = WorkQueue(min_interval_s=0.1)
    q.add("a")
    before = time.monotonic()
    assert await get(q) == "a"
    q.add("a")  # while in flight
    q.done("a")
    await assert_nothing_due(q)
    assert await get(q) == "a"
    assert time.monotonic() >= before + 0.1


async def test_a_run_longer_than_the_min_interval_is_followed_at_once() -> None:
    q: WorkQueue[str] = WorkQueue(min_interval_s=0.2)
    q.add("a")
    assert await get(q) == "a"
    await asyncio.sleep(0.25)  # the run outlasts the interval
    q.add("a")
    q.done("a")
    # due now: the interval counts from the run's start (from its end, it would wait 0.2 s)
    assert await asyncio.wait_for(q.get(), 0.1) == "a"


async def test_min_interval_is_per_key() -> None:
    q: WorkQueue[str] = WorkQueue(min_interval_s=10.0)
    q.add("a")
    assert await get(q) == "a"
    q.done("a")
    q.add("a")
    q.add("b")
    assert await get(q) == "b"  # not held back by "a"'s interval
    await assert_nothing_due(q)
    assert len(q) == 1


# --- backoff ----------------------------------------------------------------------------


async def test_failure_backoff_doubles_up_to_the_cap() -> None:
    q: WorkQueue[str] = WorkQueue(base_backoff_s=0.01, max_backoff_s=0.04)
    q.add("a")
    assert await get(q) == "a"
    delays = []
    for _ in range(5):
        failed_at = time.monotonic()
        delay = q.done("a", failed=True)
        assert delay is not None
        delays.append(delay)
        assert len(q) == 1  # retried without anyone adding it again
        assert await get(q) == "a"
        assert time.monotonic() >= failed_at + delay  # not handed out before its backoff
    assert delays == [0.01, 0.02, 0.04, 0.04, 0.04]


async def test_success_resets_the_backoff() -> None:
    q: WorkQueue[str] = WorkQueue(base_backoff_s=0.01, max_backoff_s=1.0)
    q.add("a")
    for _ in range(3):
        assert await get(q) == "a"
        q.done("a", failed=True)
    assert await get(q) == "a"
    assert q.done("a") is None
    q.add("a")
    assert await get(q) == "a"
    assert q.done("a", failed=True) == 0.01


async def test_backoff_is_counted_per_key() -> None:
    q: WorkQueue[str] = WorkQueue(base_backoff_s=0.01, max_backoff_s=1.0)
    q.add("a")
    assert await get(q) == "a"
    assert q.done("a", failed=True) == 0.01
    assert await get(q) == "a"
    assert q.done("a", failed=True) == 0.02
    q.add("b")
    assert await get(q) == "b"
    assert q.done("b", failed=True) == 0.01


async def test_failed_key_is_not_due_before_its_backoff() -> None:
    q: WorkQueue[str] = WorkQueue(base_backoff_s=0.1)
    q.add("a")
    assert await get(q) == "a"
    assert q.done("a", failed=True) == 0.1
    await assert_nothing_due(q)
    assert await get(q) == "a"


async def test_failed_key_added_while_in_flight_is_retried_once_after_backoff() -> None:
    q: WorkQueue[str] = WorkQueue(base_backoff_s=0.1)
    q.add("a")
    assert await get(q) == "a"
    q.add("a")
    failed_at = time.monotonic()
    q.done("a", failed=True)
    assert len(q) == 1
    await assert_nothing_due(q)
    assert await get(q) == "a"
    assert time.monotonic() >= failed_at + 0.1
    q.done("a")
    await assert_nothing_due(q)


async def test_done_after_runs_the_key_again_later_even_if_added_while_in_flight() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await get(q) == "a"
    q.add("a")
    held_at = time.monotonic()
    assert q.done("a", throttle=False, after=0.1) is None
    assert len(q) == 1
    await assert_nothing_due(q)
    assert await get(q) == "a"
    assert time.monotonic() >= held_at + 0.1
    q.done("a")
    await assert_nothing_due(q)


async def test_new_add_is_not_held_back_by_a_pending_backoff() -> None:
    """As in client-go, a plain add of a key waiting for its retry makes it due now."""
    q: WorkQueue[str] = WorkQueue(base_backoff_s=10.0)
    q.add("a")
    assert await get(q) == "a"
    q.done("a", failed=True)
    q.add("a")
    assert len(q) == 1
    assert await get(q) == "a"
    q.done("a")
    await assert_nothing_due(q)  # the superseded retry entry is gone too


async def test_add_after_delays_and_never_postpones_an_earlier_schedule() -> None:
    q: WorkQueue[str] = WorkQueue()
    start = time.monotonic()
    q.add_after("a", 0.05)
    await assert_nothing_due(q)
    assert await get(q) == "a"
    assert time.monotonic() >= start + 0.05
    q.done("a")

    q.add("b")
    q.add_after("b", 10.0)
    assert await get(q) == "b"


async def test_add_after_of_a_key_in_flight_requeues_it_after_done() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    assert await get(q) == "a"
    q.add_after("a", 0.0)
    await assert_nothing_due(q)
    q.done("a")
    assert await get(q) == "a"


# --- shutdown ---------------------------------------------------------------------------


async def test_shut_down_releases_waiting_keys_at_once_then_raises() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0)
    q.add("a")
    q.add_after("b", 60.0)
    await assert_nothing_due(q)
    q.shut_down()
    assert sorted([await get(q), await get(q)]) == ["a", "b"]
    with pytest.raises(ShutDown):
        await get(q)


async def test_shut_down_wakes_a_blocked_getter() -> None:
    q: WorkQueue[str] = WorkQueue()
    waiter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.shut_down()
    with pytest.raises(ShutDown):
        await asyncio.wait_for(waiter, GET_TIMEOUT)


async def test_adds_after_shut_down_are_ignored() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.shut_down()
    q.add("a")
    q.add_after("b", 0.0)
    assert len(q) == 0
    with pytest.raises(ShutDown):
        await get(q)


async def test_failure_after_shut_down_is_not_retried_but_still_reported() -> None:
    q: WorkQueue[str] = WorkQueue(base_backoff_s=0.0)
    q.add("a")
    assert await get(q) == "a"
    q.shut_down()
    q.done("a", failed=True)
    with pytest.raises(ShutDown):
        await get(q)
    # the write never happened: the shutdown report must still name the key
    assert q.pending() == ["a"]


async def test_key_changed_while_in_flight_at_shut_down_is_still_drained() -> None:
    """A report that arrived before shutdown, while its key was in flight, is not lost."""
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0, min_interval_s=60.0)
    q.add_after("a", 0.0)
    assert await get(q) == "a"
    q.add("a")  # new input for "a" while it is in flight
    q.shut_down()
    assert q.pending() == ["a"]
    q.done("a")
    assert await get(q) == "a"  # processed once more, without waiting for the delays
    q.done("a")
    with pytest.raises(ShutDown):
        await get(q)
    assert q.pending() == []


async def test_pending_lists_waiting_and_in_flight_keys() -> None:
    q: WorkQueue[str] = WorkQueue()
    q.add("a")
    q.add("b")
    assert await get(q) == "a"
    assert sorted(q.pending()) == ["a", "b"]
    q.done("a")
    assert q.pending() == ["b"]


# --- metrics ----------------------------------------------------------------------------


async def test_metrics_count_coalesced_adds_and_queue_depth() -> None:
    metrics = Metrics()

    def sample(name: str) -> float:
        value = metrics.registry.get_sample_value(name)
        assert value is not None
        return value

    q: WorkQueue[str] = WorkQueue(metrics=metrics)
    q.add("a")
    q.add("a")  # folded while waiting
    q.add("b")
    assert sample("statusagg_queue_depth") == 2
    assert sample("statusagg_keys_coalesced_total") == 1
    assert await get(q) == "a"
    assert sample("statusagg_queue_depth") == 1
    q.add("a")  # first add while in flight: remembered
    q.add("a")  # second: folded
    assert sample("statusagg_keys_coalesced_total") == 2


# --- model-based property test ------------------------------------------------------------

_OPS = st.lists(
    st.tuples(st.sampled_from(["add", "get", "done", "fail"]), st.sampled_from("abc")),
    max_size=40,
)


async def _try_get(q: WorkQueue[str]) -> str | None:
    """Take a due key if there is one (with no delays configured, ``get`` returns at once)."""
    task = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    if task.done():
        return task.result()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return None


async def _run_model(ops: list[tuple[str, str]]) -> None:
    q: WorkQueue[str] = WorkQueue(base_backoff_s=0.0)
    waiting: list[str] = []  # in the order they become due
    in_flight: set[str] = set()
    dirty: set[str] = set()
    for op, key in ops:
        if op == "add":
            q.add(key)
            if key in in_flight:
                dirty.add(key)
            elif key not in waiting:
                waiting.append(key)
        elif op == "get":
            got = await _try_get(q)
            if waiting:
                assert got == waiting.pop(0)
                in_flight.add(got)
            else:
                assert got is None
        elif key in in_flight:  # "done" or "fail" of a key we hold
            q.done(key, failed=op == "fail")
            in_flight.discard(key)
            if op == "fail" or key in dirty:
                waiting.append(key)
            dirty.discard(key)
        assert len(q) == len(waiting)
        assert q.in_flight == len(in_flight)
        assert sorted(q.pending()) == sorted(waiting + list(in_flight))


@settings(max_examples=200, deadline=None)
@given(_OPS)
def test_queue_matches_a_simple_model(ops: list[tuple[str, str]]) -> None:
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_run_model(ops))
    finally:
        loop.close()


async def test_a_run_that_wrote_nothing_does_not_start_the_min_interval() -> None:
    q: WorkQueue[str] = WorkQueue(min_interval_s=60)
    q.add("a")
    assert await get(q) == "a"
    q.done("a", throttle=False)
    q.add("a")
    assert await get(q) == "a", "due at once: no write to space from"
    q.done("a")
    q.add("a")
    await assert_nothing_due(q)


# --- adaptive coalescing ----------------------------------------------------------------


async def test_adaptive_key_added_while_a_worker_is_free_is_due_at_once() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0, fold_above=2)
    q.add("a")
    assert await get(q) == "a", "an idle queue does not wait out the coalescing delay"


async def test_adaptive_keys_added_together_that_fit_the_free_workers_are_due_at_once() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0, fold_above=2)
    for key in ("a", "b", "b"):
        q.add(key)
    assert {await get(q), await get(q)} == {"a", "b"}


async def test_adaptive_more_keys_at_once_than_free_workers_all_wait_and_fold() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0, fold_above=2)
    for key in ("a", "b", "c"):
        q.add(key)
    await assert_nothing_due(q)
    for key in ("a", "b", "c"):  # the next batch of a burst folds into the waiting keys
        q.add(key)
    await assert_nothing_due(q)
    assert len(q) == 3


async def test_adaptive_counts_keys_in_flight_as_busy_workers() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0, fold_above=1)
    q.add("a")
    assert await get(q) == "a"
    q.add("b")  # the only worker is busy with a
    await assert_nothing_due(q)
    q.done("a")
    q.add("c")
    assert await get(q) == "c", "a worker is free again"


async def test_adaptive_never_hurries_a_key_that_already_waits() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0, fold_above=1)
    q.add("a")
    q.add("b")  # two at once for one worker: both wait
    await assert_nothing_due(q)
    q.add("a")  # a later report of a waiting key keeps folding
    await assert_nothing_due(q)


async def test_adaptive_keeps_the_min_interval_after_a_run() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=0.0, min_interval_s=60.0, fold_above=8)
    q.add("a")
    assert await get(q) == "a"
    q.done("a")
    q.add("a")
    await assert_nothing_due(q)


async def test_adaptive_runs_a_key_when_its_interval_ends_not_after_the_delay() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0, min_interval_s=0.1, fold_above=8)
    q.add("a")
    assert await get(q) == "a"
    q.done("a")
    q.add("a")  # inside the interval, on an idle queue
    await assert_nothing_due(q)
    assert await get(q) == "a"  # at the interval's end, not after the 60 s delay


async def test_adaptive_keys_waiting_for_their_interval_leave_workers_to_the_others() -> None:
    q: WorkQueue[str] = WorkQueue(coalesce_delay_s=60.0, min_interval_s=60.0, fold_above=1)
    q.add("a")
    assert await get(q) == "a"
    q.done("a")
    q.add("a")  # due in a minute: not a worker's load now
    q.add("b")
    assert await get(q) == "b"
