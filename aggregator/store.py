"""The latest member item per (resource, cluster), with per-item sequence ordering and quotas
per cluster: items, bytes and tombstones."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from aggregator.metrics import Metrics
from aggregator.model import MemberItem, ResourceKey
from aggregator.rejection import RejectReason


class Outcome(enum.Enum):
    CHANGED = "changed"  # accepted, and the resource's inputs changed
    UNCHANGED = "unchanged"  # accepted, but it repeats what is stored
    UNKNOWN_REMOVAL = "unknown-removal"  # accepted: a removal of an item never held
    STALE = "stale"  # an older or equal sequence: dropped


@dataclass(frozen=True)
class Quotas:
    """What one cluster may make the store hold."""

    max_items: int = 20_000
    max_bytes: int = 128 * 1024 * 1024  # the sum of the items' ``size``
    max_tombstones: int = 10_000


class QuotaExceeded(Exception):
    """The item would take its cluster over a quota; the message is the reason for the agent."""

    def __init__(self, reason: RejectReason, message: str, limit: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.limit = limit


class MemberStore:
    """Holds items by resource, then cluster. Removals leave the sequence behind (a tombstone)
    so a delayed older report cannot bring a removed item back; each cluster keeps at most
    ``max_tombstones`` of them, the oldest dropped first."""

    def __init__(self, quotas: Quotas | None = None, metrics: Metrics | None = None) -> None:
        self.quotas = quotas or Quotas()
        self._metrics = metrics
        self._items: dict[ResourceKey, dict[str, MemberItem]] = {}
        self._tombstones: dict[str, dict[ResourceKey, int]] = {}  # oldest first, per cluster
        self._held: dict[str, tuple[int, int]] = {}  # cluster -> (items, bytes)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: ResourceKey) -> bool:
        return key in self._items

    def items(self, key: ResourceKey) -> list[MemberItem]:
        """The items of one resource, sorted by cluster name."""
        by_cluster = self._items.get(key)
        if not by_cluster:
            return []
        return [by_cluster[c] for c in sorted(by_cluster)]

    def resource_count(self) -> int:
        return len(self._items)

    def keys(self) -> list[ResourceKey]:
        return list(self._items)

    def clusters(self) -> set[str]:
        """Every cluster that has at least one item here."""
        return set(self._held)

    def held(self) -> dict[str, tuple[int, int]]:
        """Items and bytes held per cluster."""
        return dict(self._held)

    def tombstones(self) -> dict[str, int]:
        """Tombstones held per cluster."""
        return {cluster: len(t) for cluster, t in self._tombstones.items() if t}

    def drop_resources(self, keys: Iterable[ResourceKey]) -> None:
        """Forget everything about ``keys`` (items and tombstones)."""
        dropping = set(keys)
        for key in dropping:
            for cluster in list(self._items.get(key, ())):
                self._drop(key, cluster)
        for by_key in self._tombstones.values():
            for key in [k for k in by_key if k in dropping]:
                del by_key[key]

    def get(self, key: ResourceKey, cluster: str) -> MemberItem | None:
        """The item ``cluster`` holds for ``key``, if any."""
        by_cluster = self._items.get(key)
        return by_cluster.get(cluster) if by_cluster else None

    def renew(self, item: MemberItem, sequence: int) -> Outcome:
        """Apply a report that repeats the held ``item``: only its sequence moves forward."""
        if sequence <= item.sequence:
            return Outcome.STALE
        item.sequence = sequence
        return Outcome.UNCHANGED

    def clusters_of(self, key: ResourceKey) -> list[str]:
        return sorted(self._items.get(key, ()))

    def put(self, item: MemberItem) -> Outcome:
        """Apply one report (an update or a removal) if it is newer than what is held.

        Raises QuotaExceeded if a new or bigger item would take its cluster over a quota."""
        by_cluster = self._items.get(item.key)
        current = by_cluster.get(item.cluster) if by_cluster else None
        tombstones = self._tombstones.get(item.cluster, {})
        last_sequence = current.sequence if current is not None else tombstones.get(item.key, -1)
        if item.sequence <= last_sequence:
            return Outcome.STALE
        if item.removed:
            self._tombstone(item.cluster, item.key, item.sequence)
            if current is None:
                return Outcome.UNCHANGED if last_sequence >= 0 else Outcome.UNKNOWN_REMOVAL
            self._drop(item.key, item.cluster)
            return Outcome.CHANGED
        items, size = self._held.get(item.cluster, (0, 0))
        if current is None:
            items += 1
        else:
            size -= current.size
        self._check(item.cluster, items, size + item.size)
        tombstones.pop(item.key, None)
        if by_cluster is None:
            by_cluster = self._items[item.key] = {}
        elif by_cluster:
            item.key = next(iter(by_cluster.values())).key  # one key object per resource
        by_cluster[item.cluster] = item
        self._held[item.cluster] = (items, size + item.size)
        if current is None:
            self._count += 1
            return Outcome.CHANGED
        return Outcome.UNCHANGED if current.same_content(item) else Outcome.CHANGED

    def _check(self, cluster: str, items: int, size: int) -> None:
        if items > self.quotas.max_items:
            raise QuotaExceeded(
                RejectReason.CLUSTER_ITEMS_QUOTA,
                f"cluster {cluster!r} already holds {items - 1} items, "
                f"the limit of {self.quotas.max_items}",
                "cluster_items",
            )
        if size > self.quotas.max_bytes:
            raise QuotaExceeded(
                RejectReason.CLUSTER_BYTES_QUOTA,
                f"cluster {cluster!r} would hold {size} bytes of statuses, "
                f"over the limit of {self.quotas.max_bytes}",
                "cluster_bytes",
            )

    def _tombstone(self, cluster: str, key: ResourceKey, sequence: int) -> None:
        by_key = self._tombstones.setdefault(cluster, {})
        by_key.pop(key, None)
        by_key[key] = sequence
        while len(by_key) > self.quotas.max_tombstones:
            del by_key[next(iter(by_key))]
            if self._metrics is not None:
                self._metrics.tombstones_evicted.inc()

    def _drop(self, key: ResourceKey, cluster: str) -> None:
        by_cluster = self._items[key]
        item = by_cluster.pop(cluster)
        self._count -= 1
        if not by_cluster:
            del self._items[key]
        items, size = self._held[cluster]
        if items == 1:
            del self._held[cluster]
        else:
            self._held[cluster] = (items - 1, size - item.size)

    def admit(
        self, cluster: str, items: Iterable[MemberItem]
    ) -> tuple[list[MemberItem], list[tuple[MemberItem, QuotaExceeded]]]:
        """Split a Sync's items into those that fit the cluster's quotas (in order) and those
        refused, with the reason."""
        admitted: list[MemberItem] = []
        refused: list[tuple[MemberItem, QuotaExceeded]] = []
        keys: set[ResourceKey] = set()
        size = 0
        for item in items:
            if not item.removed:
                try:
                    self._check(cluster, len(keys | {item.key}), size + item.size)
                except QuotaExceeded as exc:
                    refused.append((item, exc))
                    continue
                keys.add(item.key)
                size += item.size
            admitted.append(item)
        return admitted, refused

    def replace_cluster(self, cluster: str, items: Iterable[MemberItem]) -> set[ResourceKey]:
        """Make ``items`` the whole state of ``cluster`` (a new agent session: sequences restart).

        Returns the resources whose inputs changed."""
        incoming = {item.key: item for item in items if not item.removed}
        changed: set[ResourceKey] = set()
        for key in [k for k, by_cluster in self._items.items() if cluster in by_cluster]:
            if key not in incoming:
                self._drop(key, cluster)
                changed.add(key)
        self._tombstones.pop(cluster, None)
        for key, item in incoming.items():
            by_cluster = self._items.setdefault(key, {})
            current = by_cluster.get(cluster)
            by_cluster[cluster] = item
            if current is None:
                self._count += 1
                changed.add(key)
            elif not current.same_content(item):
                changed.add(key)
        if incoming:
            self._held[cluster] = (len(incoming), sum(i.size for i in incoming.values()))
        else:
            self._held.pop(cluster, None)
        return changed
