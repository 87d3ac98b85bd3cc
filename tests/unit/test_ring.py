"""Rendezvous hashing: same answer everywhere, even spread, minimal movement."""

from __future__ import annotations

from collections import Counter

from aggregator.shard.ring import Ring

KEYS = [f"apps/v1/Deployment/ns-{i % 7}/app-{i}" for i in range(6000)]


def test_every_replica_computes_the_same_owner_whatever_the_member_order() -> None:
    one, two = Ring(["r-a", "r-b", "r-c"]), Ring(["r-c", "r-a", "r-b", "r-a"])
    assert one.members == two.members == ("r-a", "r-b", "r-c")
    assert [one.owner(k) for k in KEYS] == [two.owner(k) for k in KEYS]


def test_keys_spread_evenly() -> None:
    ring = Ring(["r-a", "r-b", "r-c"])
    counts = Counter(ring.owner(k) for k in KEYS)
    assert set(counts) == {"r-a", "r-b", "r-c"}
    assert all(abs(n - 2000) < 200 for n in counts.values()), counts


def test_removing_a_member_moves_only_its_keys() -> None:
    before, after = Ring(["r-a", "r-b", "r-c"]), Ring(["r-a", "r-c"])
    moved = [k for k in KEYS if before.owner(k) != after.owner(k)]
    assert moved
    assert all(before.owner(k) == "r-b" for k in moved)
    assert len(moved) == sum(1 for k in KEYS if before.owner(k) == "r-b")


def test_adding_a_member_moves_keys_only_to_it() -> None:
    before, after = Ring(["r-a", "r-b"]), Ring(["r-a", "r-b", "r-c"])
    moved = [k for k in KEYS if before.owner(k) != after.owner(k)]
    assert all(after.owner(k) == "r-c" for k in moved)
    assert 1700 < len(moved) < 2300


def test_an_empty_ring_owns_nothing() -> None:
    assert Ring([]).owner("apps/v1/Deployment/ns/app") is None
