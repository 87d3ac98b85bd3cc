"""Write wars: another field manager keeps overwriting a status the service writes.

Each reconcile of the service whose status another manager overwrites counts once. ``overwrites``
of them within ``window_s`` start a war on that object: the service holds its writes of it for
``backoff_base_s``, doubling with every further overwrite up to ``backoff_max_s``. The war ends
once a write of the service has stood for ``window_s`` after the last hold.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)

OWN_MANAGER = "statusagg"  # every replica's field manager is "statusagg" or "statusagg/<id>"


@dataclass(frozen=True)
class WarSettings:
    overwrites: int = 5
    window_s: float = 60.0
    backoff_base_s: float = 1.0
    backoff_max_s: float = 300.0


@dataclass
class _Record:
    manager: str
    times: deque[float] = field(default_factory=deque)
    level: int = 0  # holds so far in this war; 0: no war
    until: float = 0.0


class WriteWars(Generic[K]):
    """Counts overwrites per object and says how long to hold its writes."""

    def __init__(
        self, settings: WarSettings | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.settings = settings or WarSettings()
        self._clock = clock
        self._records: dict[K, _Record] = {}

    def overwritten(self, key: K, manager: str) -> bool:
        """Note that ``manager`` overwrote the service's write of ``key``; True if that starts
        a war."""
        s = self.settings
        now = self._clock()
        record = self._records.get(key)
        if record is None or self._over(record, now):
            record = self._records[key] = _Record(manager)
        record.manager = manager
        while record.times and record.times[0] < now - s.window_s:
            record.times.popleft()
        record.times.append(now)
        if record.level == 0 and len(record.times) < s.overwrites:
            return False
        record.level += 1
        record.until = now + min(s.backoff_base_s * 2.0 ** (record.level - 1), s.backoff_max_s)
        return record.level == 1

    def hold(self, key: K) -> float:
        """Seconds to wait before writing ``key`` again (0: write now)."""
        record = self._records.get(key)
        if record is None or record.level == 0:
            return 0.0
        return max(0.0, record.until - self._clock())

    def manager(self, key: K) -> str | None:
        """The field manager ``key`` is at war with, if any."""
        record = self._records.get(key)
        return record.manager if record is not None and record.level else None

    def active(self) -> int:
        """Objects at war now; forgets the ones whose war or count has ended."""
        now = self._clock()
        for key in [k for k, r in self._records.items() if self._over(r, now)]:
            del self._records[key]
        return sum(1 for r in self._records.values() if r.level)

    def forget(self, key: K) -> None:
        self._records.pop(key, None)

    def _over(self, record: _Record, now: float) -> bool:
        """Nothing left to remember: no overwrite within the window, no war still running."""
        last = record.times[-1] if record.times else 0.0
        return now - max(last, record.until) > self.settings.window_s


def other_status_manager(obj: Mapping[str, Any], own: str = OWN_MANAGER) -> str | None:
    """The field manager, neither ``own`` nor a statusagg replica, that wrote the object's
    status last (by ``managedFields``), if any."""
    latest: tuple[str, str] | None = None
    for entry in obj.get("metadata", {}).get("managedFields") or ():
        manager = str(entry.get("manager", ""))
        if entry.get("subresource") != "status" or manager == own or _statusagg(manager):
            continue
        stamp = str(entry.get("time", ""))
        if latest is None or stamp >= latest[0]:
            latest = (stamp, manager)
    return latest[1] if latest is not None else None


def _statusagg(manager: str) -> bool:
    return manager == OWN_MANAGER or manager.startswith(OWN_MANAGER + "/")
