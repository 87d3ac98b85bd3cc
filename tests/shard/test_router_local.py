"""A replica's own share of a routed Report or Sync is parsed off the event loop, and stored only
if the shard view is still the one the batch was split by."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.service import ACCEPTED, ItemResult
from aggregator.shard.lease import Member
from aggregator.shard.membership import View
from aggregator.shard.router import NoOwner, Router
from aggregator.wire import RawItem

ME = Member("replica-a", "127.0.0.1:1", "e1")
OTHER = Member("replica-b", "127.0.0.1:2", "e2")


class ParsingService:
    """Holds every parse until released, as a worker thread would; records what was stored."""

    def __init__(self) -> None:
        self.parsing = asyncio.Event()
        self.parsed = asyncio.Event()
        self.stored: list[str] = []

    async def _parse(self, raw_items: Sequence[RawItem], before_store: Callable[[], None]) -> None:
        self.parsing.set()
        await self.parsed.wait()
        before_store()
        self.stored.extend(raw.name for raw in raw_items)

    async def report_off_loop(
        self, raw_items: Sequence[RawItem], before_store: Callable[[], None]
    ) -> list[ItemResult]:
        await self._parse(raw_items, before_store)
        return [ACCEPTED] * len(raw_items)

    async def sync_off_loop(
        self, cluster: str, raw_items: Sequence[RawItem], before_store: Callable[[], None]
    ) -> list[ItemResult]:
        await self._parse(raw_items, before_store)
        return [ACCEPTED] * len(raw_items)


@dataclass
class AloneOwnership:
    view: View = field(default_factory=lambda: View.of([ME]))
    replica_id: str = ME.id
    synced_clusters: list[str] = field(default_factory=list)

    def synced(self, cluster: str) -> None:
        self.synced_clusters.append(cluster)


def item(name: str) -> pb.MemberStatus:
    ref = pb.ResourceRef(api_version="apps/v1", kind="Deployment", namespace="ns", name=name)
    return pb.MemberStatus(cluster="east", resource=ref, status_json=b"{}", sequence=1)


def router() -> tuple[Router, ParsingService, AloneOwnership]:
    service, ownership = ParsingService(), AloneOwnership()
    return Router(service, ownership, None, None), service, ownership  # type: ignore[arg-type]


@pytest.mark.parametrize("call", ["report", "sync"])
async def test_the_local_share_is_stored_under_an_unchanged_view(call: str) -> None:
    routing, service, ownership = router()
    items = [item("a"), item("b")]
    answer = asyncio.create_task(
        routing.report(items) if call == "report" else routing.sync("east", items)
    )
    await service.parsing.wait()
    service.parsed.set()
    reply = await answer
    assert reply.epoch == ownership.view.id
    assert [r.outcome for r in reply.results] == [pb.ItemResult.OUTCOME_ACCEPTED] * 2
    assert service.stored == ["a", "b"]
    assert ownership.synced_clusters == (["east"] if call == "sync" else [])


@pytest.mark.parametrize("call", ["report", "sync"])
async def test_a_view_change_while_parsing_stores_nothing(call: str) -> None:
    routing, service, ownership = router()
    items = [item("a"), item("b")]
    answer = asyncio.create_task(
        routing.report(items) if call == "report" else routing.sync("east", items)
    )
    await service.parsing.wait()
    ownership.view = View.of([ME, OTHER])  # a replica joined while the share was parsed
    service.parsed.set()
    with pytest.raises(NoOwner, match="view changed"):
        await answer
    assert service.stored == []
    assert ownership.synced_clusters == []
