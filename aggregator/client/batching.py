"""Split items into messages bounded by count and by encoded size."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb

# what a repeated field adds to each item's own size: a tag byte and a length of up to 5 bytes
FIELD_OVERHEAD = 6
# what a message adds besides its items: a cluster name, the `last` flag, gRPC framing
MESSAGE_OVERHEAD = 1024


def encoded_size(item: pb.MemberStatus) -> int:
    """The bytes ``item`` takes in a Report or Sync message."""
    return item.ByteSize() + FIELD_OVERHEAD


def batches(
    items: Iterable[pb.MemberStatus], max_items: int, max_bytes: int
) -> Iterator[list[pb.MemberStatus]]:
    """Consecutive batches of at most ``max_items`` items and ``max_bytes`` encoded bytes.

    An item larger than ``max_bytes`` alone goes in a batch of its own (the service answers
    it with a rejection, or the call fails with RESOURCE_EXHAUSTED)."""
    batch: list[pb.MemberStatus] = []
    size = MESSAGE_OVERHEAD
    for item in items:
        item_size = encoded_size(item)
        if batch and (len(batch) >= max_items or size + item_size > max_bytes):
            yield batch
            batch, size = [], MESSAGE_OVERHEAD
        batch.append(item)
        size += item_size
    if batch:
        yield batch
