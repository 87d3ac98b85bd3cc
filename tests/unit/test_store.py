"""MemberStore: latest item per (resource, cluster), sequence ordering, tombstones, Sync."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.metrics import Metrics
from aggregator.model import Health, MemberItem, ResourceKey
from aggregator.store import MemberStore, Outcome, QuotaExceeded, Quotas

DEPLOY = ResourceKey("apps/v1", "Deployment", "default", "web")
OTHER = ResourceKey("apps/v1", "Deployment", "default", "api")


def item(
    cluster: str = "c1",
    sequence: int = 1,
    *,
    key: ResourceKey = DEPLOY,
    replicas: int = 1,
    removed: bool = False,
    **fields: Any,
) -> MemberItem:
    status = None if removed else {"replicas": replicas}
    return MemberItem(
        cluster=cluster, key=key, status=status, sequence=sequence, removed=removed, **fields
    )


def removal(cluster: str = "c1", sequence: int = 1, *, key: ResourceKey = DEPLOY) -> MemberItem:
    return item(cluster, sequence, key=key, removed=True)


# --- put ------------------------------------------------------------------------------------


def test_empty_store() -> None:
    store = MemberStore()
    assert len(store) == 0
    assert DEPLOY not in store
    assert store.items(DEPLOY) == []
    assert store.keys() == []
    assert store.clusters_of(DEPLOY) == []


def test_first_report_is_stored() -> None:
    store = MemberStore()
    first = item("c1", 1)
    assert store.put(first) is Outcome.CHANGED
    assert len(store) == 1
    assert DEPLOY in store
    assert store.items(DEPLOY) == [first]
    assert store.keys() == [DEPLOY]
    assert store.clusters_of(DEPLOY) == ["c1"]


def test_items_are_sorted_by_cluster() -> None:
    store = MemberStore()
    for cluster in ["zeta", "alpha", "mid"]:
        store.put(item(cluster))
    assert [i.cluster for i in store.items(DEPLOY)] == ["alpha", "mid", "zeta"]
    assert store.clusters_of(DEPLOY) == ["alpha", "mid", "zeta"]
    assert len(store) == 3


def test_newer_report_with_new_content_is_a_change() -> None:
    store = MemberStore()
    store.put(item(sequence=1, replicas=1))
    newer = item(sequence=2, replicas=2)
    assert store.put(newer) is Outcome.CHANGED
    assert store.items(DEPLOY) == [newer]
    assert len(store) == 1


def test_newer_report_with_same_content_is_unchanged_but_advances_the_sequence() -> None:
    store = MemberStore()
    store.put(item(sequence=1))
    assert store.put(item(sequence=5)) is Outcome.UNCHANGED
    assert store.items(DEPLOY)[0].sequence == 5
    # a report between the two is now old
    assert store.put(item(sequence=3, replicas=9)) is Outcome.STALE
    assert store.items(DEPLOY)[0].status == {"replicas": 1}


def test_older_or_equal_sequence_is_stale_and_ignored() -> None:
    store = MemberStore()
    held = item(sequence=10, replicas=1)
    store.put(held)
    assert store.put(item(sequence=9, replicas=2)) is Outcome.STALE
    assert store.put(item(sequence=10, replicas=3)) is Outcome.STALE
    assert store.put(removal(sequence=10)) is Outcome.STALE
    assert store.items(DEPLOY) == [held]


def test_sequence_zero_is_accepted_first() -> None:
    store = MemberStore()
    assert store.put(item(sequence=0)) is Outcome.CHANGED


def test_sequences_are_independent_per_cluster_and_resource() -> None:
    store = MemberStore()
    store.put(item("c1", 100))
    assert store.put(item("c2", 1)) is Outcome.CHANGED
    assert store.put(item("c1", 1, key=OTHER)) is Outcome.CHANGED
    assert len(store) == 3
    assert sorted(store.keys()) == sorted([DEPLOY, OTHER])


def test_each_content_field_counts_as_a_change() -> None:
    changes: list[dict[str, Any]] = [
        {"replicas": 2},
        {"applied": False},
        {"applied_message": "boom"},
        {"health": Health.HEALTHY},
        {"generation": 3},
        {"observed_generation": 3},
        {"template_generation": 3},
    ]
    for change in changes:
        store = MemberStore()
        store.put(item(sequence=1))
        assert store.put(item(sequence=2, **change)) is Outcome.CHANGED, change


def test_uid_and_arrival_time_alone_are_not_a_change() -> None:
    store = MemberStore()
    store.put(item(sequence=1, received_at=1.0, uid="u1"))
    assert store.put(item(sequence=2, received_at=2.0, uid="u2")) is Outcome.UNCHANGED


# --- removals and tombstones ----------------------------------------------------------------


def test_removal_drops_the_item_and_the_empty_resource() -> None:
    store = MemberStore()
    store.put(item("c1", 1))
    store.put(item("c2", 1))
    assert store.put(removal("c1", 2)) is Outcome.CHANGED
    assert store.clusters_of(DEPLOY) == ["c2"]
    assert len(store) == 1
    assert store.put(removal("c2", 2)) is Outcome.CHANGED
    assert DEPLOY not in store
    assert store.keys() == []
    assert store.items(DEPLOY) == []
    assert len(store) == 0


def test_older_report_cannot_resurrect_a_removed_item() -> None:
    store = MemberStore()
    store.put(item(sequence=1))
    store.put(removal(sequence=5))
    assert store.put(item(sequence=4)) is Outcome.STALE
    assert store.put(item(sequence=5)) is Outcome.STALE
    assert DEPLOY not in store
    assert len(store) == 0


def test_newer_report_after_removal_brings_the_item_back() -> None:
    store = MemberStore()
    store.put(item(sequence=1))
    store.put(removal(sequence=2))
    back = item(sequence=3, replicas=7)
    assert store.put(back) is Outcome.CHANGED
    assert store.items(DEPLOY) == [back]
    assert len(store) == 1
    # the tombstone is gone; ordering now follows the live item
    assert store.put(item(sequence=2)) is Outcome.STALE


def test_removal_of_an_unknown_item_leaves_a_tombstone() -> None:
    store = MemberStore()
    assert store.put(removal(sequence=5)) is Outcome.UNKNOWN_REMOVAL
    assert len(store) == 0
    assert DEPLOY not in store
    assert store.put(item(sequence=3)) is Outcome.STALE  # delayed report from before the removal
    assert store.put(item(sequence=6)) is Outcome.CHANGED


def test_repeated_removals_follow_sequence_order() -> None:
    store = MemberStore()
    store.put(item(sequence=1))
    assert store.put(removal(sequence=3)) is Outcome.CHANGED
    assert store.put(removal(sequence=2)) is Outcome.STALE
    assert store.put(removal(sequence=4)) is Outcome.UNCHANGED
    assert store.put(item(sequence=3)) is Outcome.STALE


# --- replace_cluster (Sync) -------------------------------------------------------------------


def test_sync_replaces_the_whole_state_of_one_cluster() -> None:
    store = MemberStore()
    gone = ResourceKey("v1", "Service", "default", "gone")
    store.put(item("c1", 10, key=DEPLOY, replicas=1))
    store.put(item("c1", 10, key=gone))
    store.put(item("c2", 10, key=gone))
    changed = store.replace_cluster(
        "c1",
        [item("c1", 1, key=DEPLOY, replicas=2), item("c1", 1, key=OTHER)],
    )
    assert changed == {DEPLOY, OTHER, gone}
    assert store.clusters_of(gone) == ["c2"]  # other clusters untouched
    assert store.items(DEPLOY)[0].status == {"replicas": 2}
    assert store.clusters_of(OTHER) == ["c1"]
    assert len(store) == 3


def test_sync_reports_only_resources_whose_inputs_changed() -> None:
    store = MemberStore()
    store.put(item("c1", 10, key=DEPLOY))
    store.put(item("c1", 10, key=OTHER, replicas=1))
    changed = store.replace_cluster("c1", [item("c1", 1, key=DEPLOY), item("c1", 1, key=OTHER)])
    assert changed == set()
    assert len(store) == 2


def test_sync_restarts_sequences() -> None:
    """A new agent session counts from its Sync: lower sequences than the old session's apply."""
    store = MemberStore()
    store.put(item("c1", 100))
    store.replace_cluster("c1", [item("c1", 1)])
    assert store.items(DEPLOY)[0].sequence == 1
    assert store.put(item("c1", 2, replicas=5)) is Outcome.CHANGED
    assert store.put(item("c1", 1, replicas=6)) is Outcome.STALE


def test_sync_clears_the_clusters_tombstones_only() -> None:
    store = MemberStore()
    store.put(removal("c1", 100))
    store.put(removal("c2", 100))
    store.replace_cluster("c1", [])
    assert store.put(item("c1", 1)) is Outcome.CHANGED
    assert store.put(item("c2", 1)) is Outcome.STALE


def test_sync_ignores_items_flagged_removed() -> None:
    store = MemberStore()
    store.put(item("c1", 1))
    changed = store.replace_cluster("c1", [removal("c1", 2), item("c1", 2, key=OTHER)])
    assert changed == {DEPLOY, OTHER}
    assert DEPLOY not in store
    assert store.keys() == [OTHER]
    assert len(store) == 1


def test_empty_sync_removes_everything_of_the_cluster() -> None:
    store = MemberStore()
    store.put(item("c1", 1, key=DEPLOY))
    store.put(item("c1", 1, key=OTHER))
    store.put(item("c2", 1, key=OTHER))
    assert store.replace_cluster("c1", []) == {DEPLOY, OTHER}
    assert store.keys() == [OTHER]
    assert store.clusters_of(OTHER) == ["c2"]
    assert len(store) == 1


def test_sync_with_a_repeated_resource_keeps_the_last() -> None:
    store = MemberStore()
    changed = store.replace_cluster("c1", [item("c1", 1, replicas=1), item("c1", 2, replicas=2)])
    assert changed == {DEPLOY}
    assert store.items(DEPLOY)[0].status == {"replicas": 2}
    assert len(store) == 1


# --- properties ---------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1000), st.booleans(), st.integers(0, 3)),
        min_size=1,
        max_size=30,
        unique_by=lambda r: r[0],
    ),
    st.randoms(use_true_random=False),
)
def test_any_arrival_order_ends_with_the_highest_sequence(
    reports: list[tuple[int, bool, int]], rnd: Any
) -> None:
    """Reports of one (resource, cluster) in any order: the highest sequence decides."""
    arrival = list(reports)
    rnd.shuffle(arrival)
    store = MemberStore()
    highest = -1
    for sequence, removed, replicas in arrival:
        outcome = store.put(item("c1", sequence, replicas=replicas, removed=removed))
        if sequence <= highest:
            assert outcome is Outcome.STALE
        else:
            assert outcome is not Outcome.STALE
            highest = sequence
    sequence, removed, replicas = max(reports)
    if removed:
        assert DEPLOY not in store
        assert len(store) == 0
    else:
        [held] = store.items(DEPLOY)
        assert (held.sequence, held.status) == (sequence, {"replicas": replicas})
        assert len(store) == 1


_KEYS = [DEPLOY, OTHER]
_CLUSTERS = ["c1", "c2", "c3"]
_OP = st.one_of(
    st.tuples(
        st.just("put"),
        st.sampled_from(_KEYS),
        st.sampled_from(_CLUSTERS),
        st.integers(0, 20),  # sequence
        st.booleans(),  # removed
        st.integers(0, 2),  # replicas
    ),
    st.tuples(
        st.just("sync"),
        st.sampled_from(_CLUSTERS),
        st.lists(st.tuples(st.sampled_from(_KEYS), st.integers(0, 20), st.integers(0, 2))),
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_OP, max_size=40))
def test_store_matches_a_reference_model(ops: list[tuple[Any, ...]]) -> None:
    store = MemberStore()
    # (key, cluster) -> (last sequence, replicas or None when removed)
    model: dict[tuple[ResourceKey, str], tuple[int, int | None]] = {}
    for op in ops:
        if op[0] == "put":
            _, key, cluster, sequence, removed, replicas = op
            before = model.get((key, cluster))
            outcome = store.put(
                item(cluster, sequence, key=key, replicas=replicas, removed=removed)
            )
            if before is not None and sequence <= before[0]:
                assert outcome is Outcome.STALE
                continue
            after = None if removed else replicas
            model[(key, cluster)] = (sequence, after)
            old = before[1] if before else None
            if before is None and removed:
                assert outcome is Outcome.UNKNOWN_REMOVAL
                continue
            assert outcome is (Outcome.UNCHANGED if old == after else Outcome.CHANGED)
        else:
            _, cluster, entries = op
            incoming = {key: (seq, replicas) for key, seq, replicas in entries}
            old_state = {k: v[1] for (k, c), v in model.items() if c == cluster}
            for k in [k for k in model if k[1] == cluster]:
                del model[k]
            for key, (seq, replicas) in incoming.items():
                model[(key, cluster)] = (seq, replicas)
            expected = {
                key
                for key in _KEYS
                if old_state.get(key) != (incoming[key][1] if key in incoming else None)
            }
            changed = store.replace_cluster(
                cluster, [item(cluster, s, key=k, replicas=r) for k, s, r in entries]
            )
            assert changed == expected
        live = {k: v for k, v in model.items() if v[1] is not None}
        assert len(store) == len(live)
        assert sorted(store.keys()) == sorted({k for k, _ in live})
        for key in _KEYS:
            assert [(i.cluster, i.sequence, i.status) for i in store.items(key)] == sorted(
                (c, s, {"replicas": r}) for (k, c), (s, r) in live.items() if k == key
            )


def test_a_status_flipping_between_one_and_true_is_a_change() -> None:
    store = MemberStore()
    assert store.put(item(sequence=1, replicas=1)) is Outcome.CHANGED
    assert store.put(item(sequence=2, replicas=True)) is Outcome.CHANGED


# --- quotas -----------------------------------------------------------------------------------


def key_of(i: int) -> ResourceKey:
    return ResourceKey("apps/v1", "Deployment", "default", f"app-{i}")


def test_items_per_cluster_are_bounded_and_other_clusters_unaffected() -> None:
    store = MemberStore(Quotas(max_items=3))
    for i in range(3):
        store.put(item("c1", 1, key=key_of(i)))
    with pytest.raises(QuotaExceeded) as info:
        store.put(item("c1", 1, key=key_of(3)))
    assert info.value.limit == "cluster_items"
    assert "'c1' already holds 3 items, the limit of 3" in str(info.value)
    assert store.put(item("c1", 2, key=key_of(0), replicas=5)) is Outcome.CHANGED  # an update fits
    assert store.put(item("c2", 1, key=key_of(3))) is Outcome.CHANGED
    assert store.put(removal("c1", 3, key=key_of(0))) is Outcome.CHANGED
    assert store.put(item("c1", 1, key=key_of(3))) is Outcome.CHANGED  # room again
    assert store.held() == {"c1": (3, 0), "c2": (1, 0)}


def test_bytes_per_cluster_are_bounded() -> None:
    store = MemberStore(Quotas(max_bytes=100))
    store.put(item("c1", 1, key=key_of(0), size=60))
    with pytest.raises(QuotaExceeded) as info:
        store.put(item("c1", 1, key=key_of(1), size=41))
    assert info.value.limit == "cluster_bytes"
    store.put(item("c1", 1, key=key_of(1), size=40))
    with pytest.raises(QuotaExceeded):
        store.put(item("c1", 2, key=key_of(0), size=61))  # growing an item counts too
    store.put(item("c1", 2, key=key_of(0), size=10))
    assert store.held() == {"c1": (2, 50)}
    store.drop_resources([key_of(0)])
    assert store.held() == {"c1": (1, 40)}


def test_tombstones_per_cluster_keep_the_newest() -> None:
    metrics = Metrics()
    store = MemberStore(Quotas(max_tombstones=100), metrics)
    for i in range(50_000):
        assert store.put(removal("c1", 1, key=key_of(i))) is Outcome.UNKNOWN_REMOVAL
    store.put(removal("c2", 1, key=key_of(0)))
    assert store.tombstones() == {"c1": 100, "c2": 1}
    assert metrics.tombstones_evicted._value.get() == 50_000 - 100
    assert store.put(item("c1", 1, key=key_of(49_999))) is Outcome.STALE  # newest kept
    assert store.put(item("c1", 1, key=key_of(0))) is Outcome.CHANGED  # oldest evicted


def test_sync_admits_items_up_to_the_quotas() -> None:
    store = MemberStore(Quotas(max_items=2, max_bytes=100))
    store.put(item("c1", 1, key=key_of(9), size=90))
    admitted, refused = store.admit(
        "c1",
        [
            item("c1", 1, key=key_of(0), size=50),
            removal("c1", 1, key=key_of(5)),
            item("c1", 1, key=key_of(1), size=60),
            item("c1", 1, key=key_of(2), size=10),
            item("c1", 1, key=key_of(3), size=10),
        ],
    )
    assert [i.key for i in admitted] == [key_of(0), key_of(5), key_of(2)]
    assert [(i.key, exc.limit) for i, exc in refused] == [
        (key_of(1), "cluster_bytes"),
        (key_of(3), "cluster_items"),
    ]
    store.replace_cluster("c1", admitted)
    assert store.held() == {"c1": (2, 60)}
