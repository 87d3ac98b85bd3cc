"""The two forms of a Retry-After header."""

from __future__ import annotations

from aggregator.kube.client import retry_after_s


def test_delta_seconds() -> None:
    assert retry_after_s("3") == 3.0
    assert retry_after_s(" 0 ") == 0.0


def test_http_date_counts_from_now() -> None:
    now = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT
    assert retry_after_s("Fri, 15 Jan 2027 08:00:05 GMT", now=now) == 5.0
    assert retry_after_s("Fri, 15 Jan 2027 07:59:00 GMT", now=now) == 0.0


def test_absent_or_unreadable_is_none() -> None:
    assert retry_after_s(None) is None
    assert retry_after_s("soon") is None
    assert retry_after_s("-1") is None
