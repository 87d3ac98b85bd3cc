"""What a stored member item costs in memory, counted by tracemalloc (every Python allocation
the store keeps alive, including the status bytes and the names)."""

from __future__ import annotations

import gc
import json
import tracemalloc

from aggregator.bench.scenarios import member_status
from aggregator.ingest import Limits, RawItem, Validator
from aggregator.store import MemberStore, Quotas

CLUSTERS = 4
RESOURCES = 5_000
MAX_BYTES_PER_ITEM = 600


def raw(cluster: int, resource: int) -> RawItem:
    # fresh strings and bytes per item, as the transport decodes them from each message
    return RawItem(
        f"member-{cluster}",
        "apps/v1",
        "Deployment",
        "default",
        f"web-{resource:05d}",
        "",
        json.dumps(member_status(resource % 100)).encode(),
        True,
        "",
        "Healthy",
        1,
        1,
        1,
        1,
        False,
    )


def test_a_stored_deployment_status_item_costs_at_most_600_bytes() -> None:
    validator = Validator(lambda _api_version, _kind: True, Limits())
    store = MemberStore(Quotas(max_items=RESOURCES))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        raws = [raw(c, r) for c in range(CLUSTERS) for r in range(RESOURCES)]
        status_bytes = sum(len(item.status_json) for item in raws)
        for item in raws:
            store.put(validator.validate(item))
        del raws, item
        gc.collect()
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    held = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    items = CLUSTERS * RESOURCES
    assert len(store) == items
    assert held > status_bytes, "the statuses themselves are counted"
    assert held / items <= MAX_BYTES_PER_ITEM, f"{held / items:.0f} bytes per item"
