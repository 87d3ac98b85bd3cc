"""Route an agent's call to the owners of its items: this replica's share locally, the rest
forwarded in one batch per owner, the answers put back in the caller's order.

Agents talk to any replica (a Kubernetes Service in front of them all), so their configuration
and the clients in every language stay as they are; forwarding costs one extra hop inside the
cluster for the items this replica does not own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.metrics import Metrics
from aggregator.service import AggregationService, ItemResult
from aggregator.shard.lease import Member
from aggregator.shard.membership import View
from aggregator.shard.ownership import Ownership, ring_key
from aggregator.shard.peers import Peers
from aggregator.wire import OUTCOMES, raw_item

log = logging.getLogger(__name__)


class NoOwner(Exception):
    """No live replica can take the items now (no members, or views still settling)."""


def _results(results: Sequence[ItemResult]) -> list[pb.ItemResult]:
    return [pb.ItemResult(outcome=OUTCOMES[r.outcome], reason=r.reason) for r in results]


class Router:
    """Splits Report and Sync batches by owner under the current view."""

    def __init__(
        self,
        service: AggregationService,
        ownership: Ownership,
        peers: Peers,
        metrics: Metrics,
    ) -> None:
        self.service = service
        self.ownership = ownership
        self.peers = peers
        self.metrics = metrics

    @property
    def view(self) -> View:
        return self.ownership.view

    def check_view(self, view_id: str) -> None:
        """A forwarded call is taken only under the view the sender routed it by."""
        if view_id != self.view.id:
            raise NoOwner(f"membership views differ (sender {view_id}, here {self.view.id}); retry")

    def _split(self, view: View, items: Sequence[pb.MemberStatus]) -> dict[Member, list[int]]:
        if not view.members:
            raise NoOwner("no live replica holds a membership Lease")
        by_owner: dict[Member, list[int]] = defaultdict(list)
        for index, item in enumerate(items):
            ref = item.resource
            owner = view.owner(ring_key(ref.api_version, ref.kind, ref.namespace, ref.name))
            assert owner is not None  # a non-empty ring always has an owner
            by_owner[owner].append(index)
        return by_owner

    async def _fan_out(
        self,
        view: View,
        groups: dict[Member, list[int]],
        local: Callable[[list[int], Callable[[], None]], Awaitable[list[pb.ItemResult]]],
        remote: Callable[[Member, list[int]], Awaitable[pb.ReportResponse]],
        call: str,
    ) -> list[pb.ItemResult]:
        size = sum(len(indexes) for indexes in groups.values())
        results: list[pb.ItemResult] = [pb.ItemResult()] * size

        def place(indexes: list[int], answers: Sequence[pb.ItemResult]) -> None:
            for index, answer in zip(indexes, answers, strict=True):
                results[index] = answer

        async def forward(owner: Member, indexes: list[int]) -> None:
            reply = await remote(owner, indexes)
            self.metrics.shard_forwarded_items.labels(call=call).inc(len(indexes))
            if len(reply.results) != len(indexes):
                raise NoOwner(
                    f"replica {owner.id} answered {len(reply.results)} of {len(indexes)} items"
                )
            place(indexes, reply.results)

        async def keep(indexes: list[int]) -> None:
            # a big share is parsed off the loop: store it only under the view it was split by
            place(indexes, await local(indexes, functools.partial(self._unchanged, view)))

        me = self.ownership.replica_id
        await asyncio.gather(
            *(
                keep(indexes) if owner.id == me else forward(owner, indexes)
                for owner, indexes in groups.items()
            )
        )
        return results

    def _unchanged(self, view: View) -> None:
        if self.view.id != view.id:
            raise NoOwner(f"the shard view changed from {view.id} while the items were parsed")

    async def report(self, items: Sequence[pb.MemberStatus]) -> pb.ReportResponse:
        """Answers carry the id of the view the items were routed by: if the view changes
        meanwhile, the agent sees a different id on its next call and resyncs."""
        view = self.view
        if not items:
            return pb.ReportResponse(epoch=view.id)
        groups = self._split(view, items)
        results = await self._fan_out(
            view,
            groups,
            lambda indexes, before_store: self._report_local(
                [items[i] for i in indexes], before_store
            ),
            lambda owner, indexes: self.peers.report(owner, view.id, [items[i] for i in indexes]),
            "report",
        )
        return pb.ReportResponse(epoch=view.id, results=results)

    async def sync(self, cluster: str, items: Sequence[pb.MemberStatus]) -> pb.ReportResponse:
        """Every live member gets its share of the Sync (an empty one clears what it holds)."""
        view = self.view
        groups = self._split(view, items)
        for member in view.members:
            groups.setdefault(member, [])
        results = await self._fan_out(
            view,
            groups,
            lambda indexes, before_store: self._sync_local(
                cluster, [items[i] for i in indexes], before_store
            ),
            lambda owner, indexes: self.peers.sync(
                owner, view.id, cluster, [items[i] for i in indexes]
            ),
            "sync",
        )
        return pb.ReportResponse(epoch=view.id, results=results)

    async def _report_local(
        self, items: Sequence[pb.MemberStatus], before_store: Callable[[], None]
    ) -> list[pb.ItemResult]:
        raw = [raw_item(m) for m in items]
        return _results(await self.service.report_off_loop(raw, before_store))

    async def _sync_local(
        self, cluster: str, items: Sequence[pb.MemberStatus], before_store: Callable[[], None]
    ) -> list[pb.ItemResult]:
        return _results(await self.sync_local(cluster, items, before_store))

    async def sync_local(
        self,
        cluster: str,
        items: Sequence[pb.MemberStatus],
        before_store: Callable[[], None] = lambda: None,
    ) -> list[ItemResult]:
        """Apply this replica's share of a Sync (a big one parsed in a worker thread,
        ``before_store`` run before it is stored) and count the cluster as resynced."""
        results = await self.service.sync_off_loop(
            cluster, [raw_item(m) for m in items], before_store
        )
        self.ownership.synced(cluster)
        return results

    async def get_aggregate(
        self,
        request: pb.GetAggregateRequest,
        local: Callable[[pb.GetAggregateRequest], pb.GetAggregateResponse],
    ) -> pb.GetAggregateResponse:
        view = self.view
        ref = request.resource
        owner = view.owner(ring_key(ref.api_version, ref.kind, ref.namespace, ref.name))
        if owner is None:
            raise NoOwner("no live replica holds a membership Lease")
        if owner.id == self.ownership.replica_id:
            return local(request)
        return await self.peers.get_aggregate(owner, view.id, request)
