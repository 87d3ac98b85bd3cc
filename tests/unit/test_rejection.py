"""Every rejection carries one of the fixed reasons, and each reason is documented."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from aggregator.ingest import Limits, Rejected, Validator
from aggregator.rejection import RejectReason
from aggregator.store import MemberStore, QuotaExceeded, Quotas
from tests.unit.test_ingest import raw
from tests.unit.test_store import item, key_of

OPERATING = Path(__file__).resolve().parents[2] / "docs" / "operating.md"
VALIDATOR = Validator(
    lambda api_version, kind: kind == "Deployment",
    Limits(max_status_bytes=1000, max_status_values=50, max_status_depth=4),
)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"cluster": ""}, RejectReason.INVALID_NAME),
        ({"namespace": "Default"}, RejectReason.INVALID_NAME),
        ({"name": "Web"}, RejectReason.INVALID_NAME),
        ({"api_version": "apps"}, RejectReason.INVALID_API_VERSION),
        ({"kind": "deployment"}, RejectReason.INVALID_KIND),
        ({"kind": "Widget"}, RejectReason.UNSUPPORTED_KIND),
        ({"generation": -1}, RejectReason.INVALID_GENERATION),
        ({"health": "fine"}, RejectReason.INVALID_HEALTH),
        ({"applied": False}, RejectReason.STATUS_WITHOUT_APPLIED),
        ({"status_json": b"[]"}, RejectReason.INVALID_STATUS),
        ({"status_json": b'{"a": NaN}'}, RejectReason.INVALID_STATUS),
        ({"status_json": b'{"a": "\xff"}'}, RejectReason.INVALID_STATUS),
        ({"status_json": b'{"a": 1, "a": 2}'}, RejectReason.INVALID_STATUS),
        ({"status_json": b'{"a": 9223372036854775808}'}, RejectReason.INVALID_STATUS),
        ({"status_json": b'{"a": "' + b"x" * 1000 + b'"}'}, RejectReason.STATUS_TOO_LARGE),
        ({"status_json": b'{"a": [' + b"1," * 60 + b"1]}"}, RejectReason.STATUS_TOO_MANY_VALUES),
        ({"status_json": b'{"a": [[[[[1]]]]]}'}, RejectReason.STATUS_TOO_DEEP),
    ],
)
def test_each_bad_item_names_its_reason(changes: dict[str, Any], reason: RejectReason) -> None:
    with pytest.raises(Rejected) as info:
        VALIDATOR.validate(raw(**changes))
    assert info.value.reason is reason


def test_quotas_name_their_reason() -> None:
    store = MemberStore(Quotas(max_items=1, max_bytes=100))
    store.put(item("c1", 1, key=key_of(0), size=60))
    with pytest.raises(QuotaExceeded) as info:
        store.put(item("c1", 1, key=key_of(1)))
    assert info.value.reason is RejectReason.CLUSTER_ITEMS_QUOTA
    with pytest.raises(QuotaExceeded) as info:
        store.put(item("c1", 2, key=key_of(0), size=101))
    assert info.value.reason is RejectReason.CLUSTER_BYTES_QUOTA


def test_every_reason_is_documented() -> None:
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", OPERATING.read_text(), re.MULTILINE))
    assert {r.value for r in RejectReason} <= documented
