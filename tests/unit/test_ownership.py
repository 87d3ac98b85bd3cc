"""Who may write what: the fence, the ring, and the handover window after a change."""

from __future__ import annotations

import asyncio

from aggregator.model import ResourceKey
from aggregator.shard.lease import Member
from aggregator.shard.membership import View
from aggregator.shard.ownership import Ownership, ring_key_of

A, B, C = (Member(n, f"10.0.0.{i}:7443", "e1") for i, n in enumerate(("r-a", "r-b", "r-c")))
KEYS = [ResourceKey("apps/v1", "Deployment", "ns", f"app-{i}") for i in range(300)]


class Holder:
    """This replica's Lease as the ownership sees it."""

    def __init__(self) -> None:
        self.member = True

    def __call__(self) -> bool:
        return self.member


def build(handover_s: float = 60.0) -> tuple[Ownership, Holder, list[int]]:
    holder, releases = Holder(), []
    ownership = Ownership(
        "r-a", holder, handover_s=handover_s, on_release=lambda: releases.append(1)
    )
    return ownership, holder, releases


async def test_writes_only_what_the_ring_maps_here_and_only_while_holding_the_lease() -> None:
    ownership, holder, releases = build(handover_s=0.01)
    ownership.change(View.of([A, B, C]), known_clusters=())
    await _until(lambda: bool(releases))
    view = View.of([A, B, C])
    mine = [k for k in KEYS if view.owner(ring_key_of(k)) == A]
    assert 60 < len(mine) < 140
    assert all(ownership.may_write(k) == (k in mine) for k in KEYS)
    holder.member = False
    assert not any(ownership.may_write(k) for k in KEYS), "fenced once the Lease is not ours"


async def test_moved_keys_wait_for_every_known_cluster_to_resync() -> None:
    ownership, _, releases = build()
    ownership.change(View.of([A, B, C]), known_clusters={"east"})
    ownership.synced("east")  # the first handover is over
    assert releases == [1]
    kept = [k for k in KEYS if ownership.may_write(k)]
    ownership.change(View.of([A, C]), known_clusters={"east", "west"})  # r-b died
    gained = [k for k in KEYS if ownership.owned(k) and k not in kept]
    assert gained, "some of r-b's keys move here"
    assert all(ownership.may_write(k) for k in kept), "keys owned all along stay writable"
    assert not any(ownership.may_write(k) for k in gained)
    ownership.synced("east")
    assert not any(ownership.may_write(k) for k in gained)
    assert releases == [1]
    ownership.synced("west")
    assert all(ownership.may_write(k) for k in gained)
    assert releases == [1, 1]
    ownership.close()


async def test_a_handover_without_known_clusters_ends_at_the_deadline() -> None:
    ownership, _, releases = build(handover_s=0.05)
    ownership.change(View.of([A]), known_clusters=())
    assert not ownership.may_write(KEYS[0])
    ownership.synced("east")  # nothing known to wait for: only the window ends it
    assert not ownership.may_write(KEYS[0])
    await _until(lambda: bool(releases))
    assert ownership.may_write(KEYS[0])


async def test_a_new_member_epoch_alone_moves_nothing() -> None:
    ownership, _, releases = build()
    ownership.change(View.of([A, B]), known_clusters={"east"})
    ownership.synced("east")
    assert releases == [1]
    writable = [k for k in KEYS if ownership.may_write(k)]
    ownership.change(View.of([A, Member("r-b", B.address, "e2")]), known_clusters={"east"})
    assert not ownership.handing_over
    assert [k for k in KEYS if ownership.may_write(k)] == writable


async def _until(condition: object, within: float = 5.0) -> None:
    assert callable(condition)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met"
        await asyncio.sleep(0.005)


async def test_a_new_replica_waits_for_as_many_resyncs_as_its_peers_hold_clusters() -> None:
    ownership, _, releases = build()
    ownership.change(View.of([A, B]), known_clusters=(), peer_clusters=2)
    mine = next(k for k in KEYS if ownership.owned(k))
    ownership.synced("east")
    assert not releases
    assert not ownership.may_write(mine)
    ownership.synced("east")  # the same cluster twice is still one
    assert not releases
    ownership.synced("west")
    assert releases == [1]
    assert ownership.may_write(mine)
    ownership.close()
