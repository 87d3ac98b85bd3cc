"""Sync in chunks: a cluster's complete state gathered over several messages, applied only whole.

At most one chunked Sync per cluster is open: a newer Sync of the cluster (chunked or not)
supersedes it and frees what it gathered. What one holds is bounded by the cluster's quotas:
items past them are rejected as they arrive, like in a one-message Sync, and a Sync carrying more
than ``ITEMS_PER_QUOTA`` times the item quota in all is refused whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from aggregator.ingest import RawItem
from aggregator.model import MemberItem, ResourceKey
from aggregator.rejection import RejectReason
from aggregator.service import AggregationService, ItemResult

# items a chunked Sync may carry, rejected ones included, per item of the cluster's quota
ITEMS_PER_QUOTA = 2


class Superseded(Exception):
    """A newer Sync of the same cluster started: this one is dropped."""


class SyncTooLarge(Exception):
    """The Sync carries more items than any cluster may hold."""


@dataclass(eq=False)
class PartialSync:
    """What the chunks of one Sync gathered so far: a result per item (None while accepted)
    and the valid items that fit the cluster's quotas."""

    cluster: str
    results: list[ItemResult | None] = field(default_factory=list)
    valid: list[MemberItem] = field(default_factory=list)
    keys: set[ResourceKey] = field(default_factory=set)
    size: int = 0
    superseded: bool = False

    def drop(self) -> None:
        self.superseded = True
        self.results, self.valid, self.keys = [], [], set()


class ChunkedSyncs:
    """The open chunked Syncs of one service instance, one per cluster at most."""

    def __init__(self, service: AggregationService) -> None:
        self.service = service
        self._open: dict[str, PartialSync] = {}

    def begin(self, cluster: str) -> PartialSync:
        """Open a Sync of ``cluster``, superseding the one still open."""
        self.supersede(cluster)
        partial = self._open[cluster] = PartialSync(cluster)
        return partial

    def supersede(self, cluster: str) -> None:
        """Drop the open chunked Sync of ``cluster``, if any (a newer Sync arrived)."""
        partial = self._open.pop(cluster, None)
        if partial is not None:
            partial.drop()

    def abandon(self, partial: PartialSync) -> None:
        """Forget ``partial`` without applying anything (the stream ended or broke)."""
        if self._open.get(partial.cluster) is partial:
            del self._open[partial.cluster]
        partial.drop()

    async def add(self, partial: PartialSync, raw_items: Sequence[RawItem]) -> None:
        """Validate one chunk and gather its items. Raises Superseded or SyncTooLarge."""
        quotas = self.service.store.quotas
        if len(partial.results) + len(raw_items) > ITEMS_PER_QUOTA * quotas.max_items:
            self.abandon(partial)
            raise SyncTooLarge(
                f"a Sync of cluster {partial.cluster!r} carries more than "
                f"{ITEMS_PER_QUOTA * quotas.max_items} items; a cluster holds at most "
                f"{quotas.max_items}"
            )
        results, valid = await self.service.validate_sync(partial.cluster, raw_items)
        if partial.superseded:
            raise Superseded(f"a newer Sync of cluster {partial.cluster!r} started")
        items = iter(valid)
        for result in results:
            if result is None:
                result = self._gather(partial, next(items))
            partial.results.append(result)

    def _gather(self, partial: PartialSync, item: MemberItem) -> ItemResult | None:
        if item.key in partial.keys:
            return self.service.reject(
                RejectReason.DUPLICATE_ITEM, "duplicate item for this resource and cluster"
            )
        quotas = self.service.store.quotas
        if item.removed:  # a Sync removes whatever it omits: nothing to hold
            partial.keys.add(item.key)
            return None
        if len(partial.valid) >= quotas.max_items:
            return self.service.reject(
                RejectReason.CLUSTER_ITEMS_QUOTA,
                f"cluster {partial.cluster!r} already holds {quotas.max_items} items, "
                f"the limit of {quotas.max_items}",
                "cluster_items",
            )
        if partial.size + item.size > quotas.max_bytes:
            return self.service.reject(
                RejectReason.CLUSTER_BYTES_QUOTA,
                f"cluster {partial.cluster!r} would hold {partial.size + item.size} bytes of "
                f"statuses, over the limit of {quotas.max_bytes}",
                "cluster_bytes",
            )
        partial.keys.add(item.key)
        partial.size += item.size
        partial.valid.append(item)
        return None

    def commit(self, partial: PartialSync) -> list[ItemResult]:
        """Apply the gathered Sync: the cluster now holds exactly its accepted items."""
        if partial.superseded:
            raise Superseded(f"a newer Sync of cluster {partial.cluster!r} started")
        del self._open[partial.cluster]
        results = self.service.apply_sync(partial.cluster, partial.results, partial.valid)
        partial.drop()
        return results
