"""Rendezvous (highest random weight) hashing of resources onto replicas.

Every replica computes the same owner from the same member list, and a change in the list moves
only the keys that the added or removed member wins or held, about 1/N of them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

_CACHE_LIMIT = 200_000


def _score(member: bytes, key: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(key, digest_size=8, key=member).digest(), "big")


class Ring:
    """Maps a key string to one of ``members`` (sorted, deduplicated replica ids)."""

    def __init__(self, members: Iterable[str]) -> None:
        self.members: tuple[str, ...] = tuple(sorted(set(members)))
        self._seeds = [(m, hashlib.blake2b(m.encode()).digest()) for m in self.members]
        self._owners: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.members)

    def owner(self, key: str) -> str | None:
        """The member that owns ``key``; None when there are no members."""
        found = self._owners.get(key)
        if found is not None:
            return found
        if not self._seeds:
            return None
        raw = key.encode()
        found = max(self._seeds, key=lambda seed: _score(seed[1], raw))[0]
        if len(self._owners) >= _CACHE_LIMIT:
            self._owners.clear()
        self._owners[key] = found
        return found
