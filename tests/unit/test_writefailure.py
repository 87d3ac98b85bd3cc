"""Which status-write failures are final, and their metric labels."""

from __future__ import annotations

import aiohttp
import pytest

from aggregator.kube.client import api_error
from aggregator.writefailure import Failure, classify

TOO_LARGE_ETCD = {"reason": "InternalError", "message": "etcdserver: request is too large"}


@pytest.mark.parametrize(
    ("exc", "failure"),
    [
        (api_error(413, {"reason": "RequestEntityTooLarge"}), Failure.TOO_LARGE),
        (api_error(500, TOO_LARGE_ETCD), Failure.TOO_LARGE),
        (api_error(400, {"reason": "BadRequest"}), Failure.INVALID),
        (api_error(422, {"reason": "Invalid"}), Failure.INVALID),
        (api_error(409, {"reason": "Conflict"}), Failure.CONFLICT),
        (api_error(500, {"reason": "InternalError", "message": "boom"}), Failure.SERVER),
        (api_error(503, "unavailable"), Failure.SERVER),
        (api_error(429, {"reason": "TooManyRequests"}), Failure.SERVER),
        (api_error(403, {"reason": "Forbidden"}), Failure.CLIENT),
        (TimeoutError(), Failure.UNREACHABLE),
        (aiohttp.ClientConnectionError(), Failure.UNREACHABLE),
        (RuntimeError("?"), Failure.OTHER),
    ],
)
def test_classify(exc: BaseException, failure: Failure) -> None:
    assert classify(exc) is failure


def test_only_too_large_and_invalid_are_final() -> None:
    assert {f for f in Failure if f.final} == {Failure.TOO_LARGE, Failure.INVALID}
