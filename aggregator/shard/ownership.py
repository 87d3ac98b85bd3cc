"""Which resources this replica may write now.

A replica writes a resource only while it holds its Lease and the ring of the current view maps
the resource to it. When the ring changes, the resources that moved here arrive without their
member items: the agents resend everything with a Sync when they see the new view, and until
every cluster this replica knows has done so (or the handover window has passed) the moved
resources are held, so a status is never written from a partial set of members.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from aggregator.metrics import Metrics
from aggregator.model import ResourceKey
from aggregator.shard.lease import Member
from aggregator.shard.membership import View
from aggregator.shard.ring import Ring

log = logging.getLogger(__name__)


def ring_key(api_version: str, kind: str, namespace: str, name: str) -> str:
    """The string a resource is hashed by."""
    return f"{api_version}/{kind}/{namespace}/{name}"


def ring_key_of(key: ResourceKey) -> str:
    return ring_key(key.api_version, key.kind, key.namespace, key.name)


class Ownership:
    """Ownership of resources by the current view, with a handover window after each change."""

    def __init__(
        self,
        replica_id: str,
        is_member: Callable[[], bool],
        *,
        handover_s: float,
        on_release: Callable[[], None],
        metrics: Metrics | None = None,
    ) -> None:
        self.replica_id = replica_id
        self.view = View.of(())
        self._is_member = is_member
        self._handover_s = handover_s
        self._on_release = on_release
        self._metrics = metrics
        self._rings_since_handover: list[Ring] = []
        self._waiting_for: set[str] = set()
        self._release_on_sync = False
        self._expected_syncs = 0
        self._synced: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def handing_over(self) -> bool:
        return bool(self._rings_since_handover)

    def owner(self, key: ResourceKey) -> Member | None:
        return self.view.owner(ring_key_of(key))

    def owned(self, key: ResourceKey) -> bool:
        """Whether the current ring maps ``key`` here (whether or not it may be written yet)."""
        return self.view.ring.owner(ring_key_of(key)) == self.replica_id

    def may_write(self, key: ResourceKey) -> bool:
        """Held Lease, owned in the current ring, and (during a handover) owned all along."""
        if not self._is_member():
            return False
        text = ring_key_of(key)
        if self.view.ring.owner(text) != self.replica_id:
            return False
        return all(ring.owner(text) == self.replica_id for ring in self._rings_since_handover)

    def change(self, view: View, known_clusters: Iterable[str], peer_clusters: int = 0) -> None:
        """Adopt ``view``; if its ring differs, hold moved keys until ``known_clusters`` resync.

        Knowing no clusters (just started), wait for ``peer_clusters`` distinct resyncs, the
        count the peers publish; knowing neither, wait for the handover window."""
        previous = self.view
        self.view = view
        if previous.ring.members == view.ring.members:
            return
        self._rings_since_handover.append(previous.ring)
        self._waiting_for = set(known_clusters)
        self._release_on_sync = bool(self._waiting_for)
        self._expected_syncs = 0 if self._waiting_for else peer_clusters
        self._synced.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self._handover_s, self._release)
        self._gauge()
        log.info(
            "ring changed to %s: holding moved resources until %s resync (at most %.1fs)",
            ", ".join(view.ring.members) or "no members",
            f"{len(self._waiting_for)} known clusters"
            if self._waiting_for
            else f"{self._expected_syncs} clusters"
            if self._expected_syncs
            else "agents",
            self._handover_s,
        )

    def synced(self, cluster: str) -> None:
        """A full Sync of ``cluster`` arrived under the current view."""
        if not self.handing_over:
            return
        self._waiting_for.discard(cluster)
        self._synced.add(cluster)
        all_known = self._release_on_sync and not self._waiting_for
        as_many_as_peers = 0 < self._expected_syncs <= len(self._synced)
        if all_known or as_many_as_peers:
            self._release()

    def _release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._rings_since_handover:
            return
        self._rings_since_handover.clear()
        self._waiting_for.clear()
        self._gauge()
        log.info("handover complete: writing every owned resource")
        self._on_release()

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _gauge(self) -> None:
        if self._metrics is not None:
            self._metrics.shard_handover.set(1 if self.handing_over else 0)
