"""A client-side token bucket (QPS and burst), like client-go's flowcontrol limiter."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """``acquire()`` waits until a token is available; ``qps <= 0`` disables the limit."""

    def __init__(self, qps: float, burst: int) -> None:
        self.qps = qps
        self.burst = max(1, burst)
        self._tokens = float(self.burst)
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.qps)
        self._updated = now

    def try_acquire(self) -> bool:
        """Take a token if one is available now, without waiting."""
        if self.qps <= 0:
            return True
        self._refill(time.monotonic())
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        if self.qps <= 0:
            return
        async with self._lock:
            self._refill(time.monotonic())
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) / self.qps)
                self._refill(time.monotonic())
            self._tokens -= 1
