"""Why a status write failed, as a fixed metric label, and whether retrying can fix it."""

from __future__ import annotations

import enum

import aiohttp

from aggregator.kube.client import ApiError, Conflict


class Failure(enum.StrEnum):
    TOO_LARGE = "too-large"  # 413, or etcd's "request is too large" (a 500)
    INVALID = "invalid"  # 400, 422: the server refuses this status
    CONFLICT = "conflict"  # 409 on every attempt
    SERVER = "server-error"  # other 5xx, 429
    CLIENT = "client-error"  # other 4xx, e.g. 403 until RBAC is fixed
    UNREACHABLE = "unreachable"  # timeout, connection error
    OTHER = "other"

    @property
    def final(self) -> bool:
        """Retrying the same inputs cannot succeed: wait for a new report or template change."""
        return self in (Failure.TOO_LARGE, Failure.INVALID)

    @property
    def summary(self) -> str:
        return _SUMMARIES[self]


_SUMMARIES = {
    Failure.TOO_LARGE: "the status is too large for the API server",
    Failure.INVALID: "the API server rejected the status",
    Failure.CONFLICT: "the object kept changing during every write attempt",
    Failure.SERVER: "the API server failed",
    Failure.CLIENT: "the API server refused the write",
    Failure.UNREACHABLE: "the API server did not answer",
    Failure.OTHER: "the write failed",
}


def classify(exc: BaseException) -> Failure:
    if isinstance(exc, Conflict):
        return Failure.CONFLICT
    if isinstance(exc, ApiError):
        if exc.status == 413 or (exc.status == 500 and "request is too large" in str(exc)):
            return Failure.TOO_LARGE
        if exc.status in (400, 422):
            return Failure.INVALID
        if exc.status >= 500 or exc.status == 429:
            return Failure.SERVER
        return Failure.CLIENT
    if isinstance(exc, TimeoutError | aiohttp.ClientError | ConnectionError):
        return Failure.UNREACHABLE
    return Failure.OTHER
