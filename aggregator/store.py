"""The latest member item per (resource, cluster), with per-item sequence ordering."""

from __future__ import annotations

import enum
from collections.abc import Iterable

from aggregator.model import MemberItem, ResourceKey


class Outcome(enum.Enum):
    CHANGED = "changed"  # accepted, and the resource's inputs changed
    UNCHANGED = "unchanged"  # accepted, but it repeats what is stored
    STALE = "stale"  # an older or equal sequence: dropped


class MemberStore:
    """Holds items by resource, then cluster. Removals leave the sequence behind (a tombstone)
    so a delayed older report cannot bring a removed item back."""

    def __init__(self) -> None:
        self._items: dict[ResourceKey, dict[str, MemberItem]] = {}
        self._tombstones: dict[tuple[ResourceKey, str], int] = {}
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
        return {cluster for by_cluster in self._items.values() for cluster in by_cluster}

    def drop_resources(self, keys: Iterable[ResourceKey]) -> None:
        """Forget everything about ``keys`` (items and tombstones)."""
        dropping = set(keys)
        for key in dropping:
            by_cluster = self._items.pop(key, None)
            if by_cluster:
                self._count -= len(by_cluster)
        for tombstone in [t for t in self._tombstones if t[0] in dropping]:
            del self._tombstones[tombstone]

    def clusters_of(self, key: ResourceKey) -> list[str]:
        return sorted(self._items.get(key, ()))

    def put(self, item: MemberItem) -> Outcome:
        """Apply one report (an update or a removal) if it is newer than what is held."""
        by_cluster = self._items.get(item.key)
        current = by_cluster.get(item.cluster) if by_cluster else None
        last_sequence = (
            current.sequence
            if current is not None
            else self._tombstones.get((item.key, item.cluster), -1)
        )
        if item.sequence <= last_sequence:
            return Outcome.STALE
        if item.removed:
            self._tombstones[(item.key, item.cluster)] = item.sequence
            if current is None:
                return Outcome.UNCHANGED
            self._drop(item.key, item.cluster)
            return Outcome.CHANGED
        self._tombstones.pop((item.key, item.cluster), None)
        if by_cluster is None:
            by_cluster = self._items[item.key] = {}
        by_cluster[item.cluster] = item
        if current is None:
            self._count += 1
            return Outcome.CHANGED
        return Outcome.UNCHANGED if current.same_content(item) else Outcome.CHANGED

    def _drop(self, key: ResourceKey, cluster: str) -> None:
        by_cluster = self._items[key]
        del by_cluster[cluster]
        self._count -= 1
        if not by_cluster:
            del self._items[key]

    def replace_cluster(self, cluster: str, items: Iterable[MemberItem]) -> set[ResourceKey]:
        """Make ``items`` the whole state of ``cluster`` (a new agent session: sequences restart).

        Returns the resources whose inputs changed.
        """
        incoming = {item.key: item for item in items if not item.removed}
        changed: set[ResourceKey] = set()
        for key in [k for k, by_cluster in self._items.items() if cluster in by_cluster]:
            if key not in incoming:
                self._drop(key, cluster)
                changed.add(key)
        for key, tomb_cluster in [t for t in self._tombstones if t[1] == cluster]:
            del self._tombstones[(key, tomb_cluster)]
        for key, item in incoming.items():
            by_cluster = self._items.setdefault(key, {})
            current = by_cluster.get(cluster)
            by_cluster[cluster] = item
            if current is None:
                self._count += 1
                changed.add(key)
            elif not current.same_content(item):
                changed.add(key)
        return changed
