"""Membership through Leases: hold our own, watch the others', and keep the live view current.

A peer is live while its Lease keeps being renewed: its ``renewTime`` must change within
``leaseDurationSeconds`` as observed on our own monotonic clock (as client-go's leader election
does), so clock skew between replicas does not matter once a Lease has been seen to change.

We count ourselves a member only while our last successful renewal started less than the renew
deadline ago, which is shorter than the Lease duration: a replica that cannot renew stops
writing before any peer can consider its Lease expired and take its keys over.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from aggregator.kube.client import Conflict, KubeClient, NotFound, Obj
from aggregator.kube.watchcache import ObjectKey, WatchCache
from aggregator.metrics import Metrics
from aggregator.shard.lease import (
    GROUP_LABEL,
    LEASES,
    Member,
    clusters_of,
    duration_of,
    lease_body,
    lease_name,
    member_of,
    renewed_at,
)
from aggregator.shard.ring import Ring

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MembershipSettings:
    replica_id: str
    address: str  # host:port where peers reach this replica's gRPC server
    namespace: str = "default"
    group: str = "statusagg"
    lease_duration_s: int = 15
    renew_interval_s: float = 3.0
    renew_deadline_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.renew_interval_s < self.renew_deadline_s < self.lease_duration_s:
            raise ValueError(
                "need 0 < renew interval < renew deadline < lease duration, got "
                f"{self.renew_interval_s} / {self.renew_deadline_s} / {self.lease_duration_s}"
            )


@dataclass(frozen=True)
class View:
    """The live members as one replica sees them, and the ring over them."""

    members: tuple[Member, ...]
    ring: Ring
    id: str

    @classmethod
    def of(cls, members: Iterable[Member]) -> View:
        ordered = tuple(sorted(set(members)))
        digest = hashlib.blake2b(digest_size=12)
        for member in ordered:
            digest.update(f"{member.id}\0{member.address}\0{member.epoch}\n".encode())
        return cls(ordered, Ring(m.id for m in ordered), digest.hexdigest())

    def member(self, replica_id: str | None) -> Member | None:
        for member in self.members:
            if member.id == replica_id:
                return member
        return None

    def owner(self, key: str) -> Member | None:
        return self.member(self.ring.owner(key))


class Membership:
    """Holds this replica's Lease and calls ``on_change`` with every new view."""

    def __init__(
        self,
        client: KubeClient,
        settings: MembershipSettings,
        epoch: str,
        on_change: Callable[[View], None],
        metrics: Metrics | None = None,
        clusters: Callable[[], int] = lambda: 0,
    ) -> None:
        """``clusters`` is how many member clusters this replica holds items of, published in
        its Lease so that a replica that has just started knows how many resyncs to expect."""
        self.settings = settings
        self._clusters = clusters
        self.me = Member(settings.replica_id, settings.address, epoch)
        self._epoch = epoch
        self._lapses = 0
        self._was_member = False
        self.view = View.of(())
        self._client = client
        self._on_change = on_change
        self._metrics = metrics
        self._name = lease_name(settings.group, settings.replica_id)
        self._lease: Obj | None = None
        self._renewed_at: float | None = None
        self._leaving = False
        self._observed: dict[ObjectKey, tuple[str, float]] = {}
        self._cache = WatchCache(
            client,
            LEASES,
            lambda _key, _obj: self.refresh(),
            label_selector=f"{GROUP_LABEL}={settings.group}",
            namespace=settings.namespace,
            metrics=metrics,
        )
        self._tasks: list[asyncio.Task[None]] = []

    def is_member(self) -> bool:
        """Whether our Lease is surely still ours: renewed within the renew deadline."""
        return (
            not self._leaving
            and self._renewed_at is not None
            and time.monotonic() - self._renewed_at < self.settings.renew_deadline_s
        )

    async def start(self) -> None:
        """Try to take our Lease, start watching the group, and keep renewing."""
        try:
            await self._renew()
        except Exception as exc:
            log.warning("taking Lease %s failed, will retry: %s", self._name, exc)
        await self._cache.start()
        self._tasks = [
            asyncio.create_task(self._renew_loop(), name="lease-renew"),
            asyncio.create_task(self._expiry_loop(), name="lease-expiry"),
        ]
        self.refresh()

    async def stop(self, *, leave: bool = True) -> None:
        """Stop renewing; with ``leave`` delete our Lease so peers take over at once."""
        self._leaving = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._cache.stop()
        if leave and self._lease is not None:
            try:
                await self._client.delete(LEASES, self.settings.namespace, self._name)
            except NotFound:
                pass
            except Exception as exc:
                log.warning("could not delete Lease %s: %s", self._name, exc)

    async def _renew(self) -> None:
        started = time.monotonic()
        for _ in range(3):
            current = self._lease
            if current is None:
                try:
                    current = await self._client.get(LEASES, self.settings.namespace, self._name)
                except NotFound:
                    current = None
            body = lease_body(
                self.settings.namespace,
                self.settings.group,
                self.me,
                self.settings.lease_duration_s,
                datetime.now(UTC),
                current,
                self._clusters(),
            )
            try:
                if current is None:
                    stored = await self._client.create(LEASES, body)
                else:
                    stored = await self._client.replace(LEASES, body)
            except Conflict:
                self._lease = None  # someone else wrote it (or it exists): read it again
                continue
            self._lease = stored
            self._renewed_at = started
            self._cache.put(stored)
            return
        raise Conflict(409, f"Lease {self._name} kept changing while renewing")

    async def _renew_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.renew_interval_s)
            try:
                await self._renew()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("renewing Lease %s failed: %s", self._name, exc)
            self.refresh()

    async def _expiry_loop(self) -> None:
        """Recompute the view when the next known Lease (ours included) would expire."""
        while True:
            await asyncio.sleep(self._until_next_expiry())
            self.refresh()

    def peer_clusters(self) -> int:
        """The most clusters any live peer holds items of."""
        live = {m.id for m in self.view.members if m.id != self.me.id}
        return max(
            (clusters_of(lease) for lease in self._cache.objects() if _holder(lease) in live),
            default=0,
        )

    def _until_next_expiry(self) -> float:
        now = time.monotonic()
        deadlines = [
            observed + (duration_of(self._cache.get(key) or {}) or self.settings.lease_duration_s)
            for key, (_, observed) in self._observed.items()
        ]
        if self._renewed_at is not None:
            deadlines.append(self._renewed_at + self.settings.renew_deadline_s)
        upcoming = [d - now for d in deadlines if d > now]
        return min([self.settings.renew_interval_s, *upcoming]) + 0.01

    def _live(self, key: ObjectKey, lease: Obj, now: float, wall_now: datetime) -> bool:
        duration = duration_of(lease) or self.settings.lease_duration_s
        renew_time = str((lease.get("spec") or {}).get("renewTime", ""))
        seen = self._observed.get(key)
        if seen is None or seen[0] != renew_time:
            age = 0.0
            if seen is None:  # first sight: estimate its age from the wall clock, once
                at = renewed_at(lease)
                age = (wall_now - at).total_seconds() if at else duration
                age = min(max(age, 0.0), duration)
            seen = (renew_time, now - age)
            self._observed[key] = seen
        return now - seen[1] < duration

    def refresh(self) -> None:
        """Recompute the view; tell ``on_change`` when it differs."""
        now, wall_now = time.monotonic(), datetime.now(UTC)
        members: list[Member] = []
        present: set[ObjectKey] = set()
        for lease in self._cache.objects():
            key = (lease["metadata"].get("namespace", ""), lease["metadata"]["name"])
            present.add(key)
            member = member_of(lease)
            if member is None or member.id == self.me.id:
                continue
            if self._live(key, lease, now, wall_now):
                members.append(member)
        for key in [k for k in self._observed if k not in present]:
            del self._observed[key]
        belongs = self.is_member()
        if self._was_member and not belongs and not self._leaving:
            self._rejoin_as_new_member()
        self._was_member = belongs
        if belongs:
            members.append(self.me)
        view = View.of(members)
        if view.id == self.view.id:
            return
        log.info(
            "membership view %s: %s",
            view.id,
            ", ".join(f"{m.id}@{m.address}" for m in view.members) or "no live members",
        )
        self.view = view
        if self._metrics is not None:
            self._metrics.shard_members.set(len(view.members))
            self._metrics.shard_view_changes.inc()
        self._on_change(view)

    def _rejoin_as_new_member(self) -> None:
        """Our Lease lapsed and we dropped everything we held: come back under a new member
        epoch, so the view we rejoin differs from every view before (agents see a new epoch
        and resync) even when the same replicas are live again."""
        self._lapses += 1
        self.me = replace(self.me, epoch=f"{self._epoch}.{self._lapses}")
        log.warning(
            "Lease %s lapsed: rejoining as member epoch %s (agents resync)",
            self._name,
            self.me.epoch,
        )


def _holder(lease: Obj) -> str:
    return str((lease.get("spec") or {}).get("holderIdentity", ""))
