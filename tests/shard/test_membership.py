"""Lease membership against the real API server: join, crash, leave, and the write fence."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from aggregator.kube import KubeClient
from aggregator.kube.client import NotFound
from aggregator.shard.lease import LEASES, lease_name
from aggregator.shard.membership import Membership, MembershipSettings, View
from tests.helpers import eventually

DURATION_S = 3


def settings(namespace: str, group: str, replica: str) -> MembershipSettings:
    return MembershipSettings(
        replica_id=replica,
        address=f"{replica}.peers:7443",
        namespace=namespace,
        group=group,
        lease_duration_s=DURATION_S,
        renew_interval_s=0.3,
        renew_deadline_s=2.0,
    )


@pytest.fixture
async def group(kube: KubeClient, namespace: str) -> AsyncIterator[Callable[[str], Membership]]:
    name = f"g-{uuid.uuid4().hex[:6]}"
    started: list[Membership] = []

    def member(replica: str) -> Membership:
        membership = Membership(
            kube, settings(namespace, name, replica), uuid.uuid4().hex, lambda _view: None
        )
        started.append(membership)
        return membership

    yield member
    for membership in started:
        await membership.stop(leave=False)


def ids(view: View) -> list[str]:
    return [m.id for m in view.members]


async def test_replicas_see_each_other_through_their_leases(
    kube: KubeClient, namespace: str, group: Callable[[str], Membership]
) -> None:
    one, two = group("r-1"), group("r-2")
    await one.start()
    await two.start()

    async def both_see_both() -> bool:
        return ids(one.view) == ids(two.view) == ["r-1", "r-2"]

    await eventually(both_see_both, within=10)
    assert one.view.id == two.view.id
    lease = await kube.get(LEASES, namespace, lease_name(one.settings.group, "r-1"))
    assert lease["spec"]["holderIdentity"] == "r-1"
    assert lease["spec"]["leaseDurationSeconds"] == DURATION_S
    assert lease["metadata"]["annotations"]["statusagg.io/address"] == "r-1.peers:7443"


async def test_a_replica_that_leaves_is_dropped_at_once(
    kube: KubeClient, namespace: str, group: Callable[[str], Membership]
) -> None:
    one, two = group("r-1"), group("r-2")
    await one.start()
    await two.start()
    await eventually(lambda: _true(ids(one.view) == ["r-1", "r-2"]), within=10)
    await two.stop(leave=True)
    left_at = time.monotonic()
    await eventually(lambda: _true(ids(one.view) == ["r-1"]), within=10)
    assert time.monotonic() - left_at < DURATION_S, "a deleted Lease needs no expiry"
    with pytest.raises(NotFound):
        await kube.get(LEASES, namespace, lease_name(two.settings.group, "r-2"))


async def test_a_crashed_replica_fences_itself_before_its_peers_take_over(
    namespace: str, group: Callable[[str], Membership]
) -> None:
    survivor, crashed = group("r-1"), group("r-2")
    await survivor.start()
    await crashed.start()
    await eventually(lambda: _true(ids(survivor.view) == ["r-1", "r-2"]), within=10)
    for task in crashed._tasks:  # renewals stop, as when the process hangs or is cut off
        task.cancel()
    fenced_at = dropped_at = 0.0
    deadline = time.monotonic() + 3 * DURATION_S
    while (not fenced_at or not dropped_at) and time.monotonic() < deadline:
        now = time.monotonic()
        if not fenced_at and not crashed.is_member():
            fenced_at = now
        if not dropped_at and ids(survivor.view) == ["r-1"]:
            dropped_at = now
        await _tick()
    assert fenced_at, "the crashed replica noticed it could not renew"
    assert dropped_at, "the peer noticed the Lease expired"
    assert fenced_at < dropped_at, "the crashed replica stopped writing before the takeover"
    assert survivor.is_member()


async def _tick() -> None:
    await asyncio.sleep(0.02)


async def _true(value: bool) -> bool:
    return value


async def test_a_replica_whose_lease_lapsed_rejoins_under_a_new_view(
    kube: KubeClient, namespace: str, group: Callable[[str], Membership]
) -> None:
    survivor, stalled = group("r-1"), group("r-2")
    await survivor.start()
    await stalled.start()
    await eventually(lambda: _true(ids(survivor.view) == ids(stalled.view) == ["r-1", "r-2"]))
    before, first_epoch = survivor.view.id, stalled.me.epoch
    assert stalled.view.id == before
    for task in stalled._tasks:  # renewals stop for a while, as under a long stall
        task.cancel()
    await eventually(lambda: _true(not stalled.is_member() and ids(survivor.view) == ["r-1"]))
    await eventually(lambda: _true(stalled.me.epoch != first_epoch))
    stalled._tasks = [
        asyncio.create_task(stalled._renew_loop()),
        asyncio.create_task(stalled._expiry_loop()),
    ]
    await eventually(lambda: _true(ids(survivor.view) == ids(stalled.view) == ["r-1", "r-2"]))
    assert survivor.view.id == stalled.view.id
    assert survivor.view.id != before, "the same replicas, but a view agents have not seen"
    lease = await kube.get(LEASES, namespace, lease_name(stalled.settings.group, "r-2"))
    assert lease["metadata"]["annotations"]["statusagg.io/epoch"] == stalled.me.epoch
    assert lease["spec"]["leaseTransitions"] == 1
