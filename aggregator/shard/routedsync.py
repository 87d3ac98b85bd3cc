"""A chunked Sync arriving at one replica of several: each chunk split by owner as it arrives,
this replica's share gathered here, every other live member's share streamed to it.

Every member of the view takes part (one with no items clears what it holds for the cluster),
and each applies its share only when the last chunk arrives, and only if its view is still the
one the Sync was split by, so an interrupted Sync removes nothing anywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.chunkedsync import ITEMS_PER_QUOTA, ChunkedSyncs, SyncTooLarge
from aggregator.shard.lease import Member
from aggregator.shard.ownership import ring_key
from aggregator.shard.router import NoOwner, Router
from aggregator.wire import OUTCOMES, raw_item


class RoutedSync:
    """One chunked Sync under the view it started in."""

    def __init__(self, cluster: str, router: Router, chunked: ChunkedSyncs) -> None:
        view = router.view
        if not view.members:
            raise NoOwner("no live replica holds a membership Lease")
        self.cluster = cluster
        self._view = view
        self._router = router
        self._ownership = router.ownership
        self._metrics = router.metrics
        self._chunked = chunked
        self._local = chunked.begin(cluster)
        me = router.ownership.replica_id
        self._calls: dict[str, Any] = {  # the peers' SyncChunks calls, by replica id
            member.id: router.peers.sync_chunks(member, view.id)
            for member in view.members
            if member.id != me
        }
        # each call's answer, awaited from the start: a call that fails before it could send
        # anything leaves its writes waiting forever, so every write races the answer
        self._answers = {
            replica: asyncio.ensure_future(_answer(call)) for replica, call in self._calls.items()
        }
        self._first: set[str] = set()  # the peers the cluster was sent to
        # where each item went, in order: (replica id, its position in that replica's share)
        self._placed: list[tuple[str, int]] = []
        self._counts: dict[str, int] = {member.id: 0 for member in view.members}

    def _owner(self, item: pb.MemberStatus) -> Member:
        ref = item.resource
        owner = self._view.owner(ring_key(ref.api_version, ref.kind, ref.namespace, ref.name))
        assert owner is not None  # a non-empty ring always has an owner
        return owner

    async def _write(self, replica: str, items: Sequence[pb.MemberStatus], last: bool) -> None:
        chunk = pb.SyncChunk(items=items, last=last)
        if replica not in self._first:
            chunk.cluster = self.cluster
            self._first.add(replica)
        await self._unless_answered(replica, self._calls[replica].write(chunk))

    async def _unless_answered(self, replica: str, step: Awaitable[None]) -> None:
        """Await ``step`` on the call to ``replica``; if the call ends first, raise its error."""
        stepping = asyncio.ensure_future(step)
        answer = self._answers[replica]
        try:
            await asyncio.wait({stepping, answer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not stepping.done():
                stepping.cancel()
        if not stepping.cancelled() and stepping.exception() is None:
            return
        await answer  # the step failed because the call ended: its error says why
        raise NoOwner(f"replica {replica} answered before the last chunk")

    async def add(self, items: Sequence[pb.MemberStatus]) -> None:
        """Send one chunk's items to their owners. Raises SyncTooLarge or a gRPC error."""
        limit = ITEMS_PER_QUOTA * self._chunked.service.store.quotas.max_items
        if len(self._placed) + len(items) > limit:
            raise SyncTooLarge(
                f"a Sync of cluster {self.cluster!r} carries more than {limit} items"
            )
        shares: dict[str, list[pb.MemberStatus]] = {}
        for item in items:
            owner = self._owner(item).id
            shares.setdefault(owner, []).append(item)
            self._placed.append((owner, self._counts[owner]))
            self._counts[owner] += 1
        for replica, share in shares.items():
            if replica == self._ownership.replica_id:
                await self._chunked.add(self._local, [raw_item(m) for m in share])
            else:
                await self._write(replica, share, last=False)
                self._metrics.shard_forwarded_items.labels(call="sync").inc(len(share))

    async def commit(self) -> pb.ReportResponse:
        """End every share; the answers merged back in the order the items came.

        Refused (NoOwner) if the membership view changed since the first chunk: the items were
        split by a ring that no longer holds, so the agent sends the Sync again."""
        self._router.check_view(self._view.id)
        for replica, call in self._calls.items():
            await self._write(replica, (), last=True)
            await self._unless_answered(replica, call.done_writing())
        answers: dict[str, Sequence[pb.ItemResult]] = {}
        for replica, answer in self._answers.items():
            reply = await answer
            if len(reply.results) != self._counts[replica]:
                raise NoOwner(
                    f"replica {replica} answered {len(reply.results)} of "
                    f"{self._counts[replica]} items"
                )
            answers[replica] = reply.results
        local = self._chunked.commit(self._local)
        self._ownership.synced(self.cluster)
        answers[self._ownership.replica_id] = [
            pb.ItemResult(outcome=OUTCOMES[r.outcome], reason=r.reason) for r in local
        ]
        results = [answers[replica][index] for replica, index in self._placed]
        return pb.ReportResponse(epoch=self._view.id, results=results)

    def abandon(self) -> None:
        """Drop every share that was not applied: cancelled streams apply nothing."""
        for call in self._calls.values():
            call.cancel()
        for answer in self._answers.values():
            answer.cancel()
        self._chunked.abandon(self._local)


async def _answer(call: Any) -> pb.ReportResponse:
    reply: pb.ReportResponse = await call
    return reply
