"""One replica of a sharded deployment: its Lease, the resources it owns, and its router."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aggregator.kube.client import KubeClient
from aggregator.metrics import Metrics
from aggregator.model import ResourceKey
from aggregator.service import AggregationService
from aggregator.shard.membership import Membership, MembershipSettings, View
from aggregator.shard.ownership import Ownership
from aggregator.shard.peers import PeerCredentials, Peers
from aggregator.shard.router import Router

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShardSettings:
    replica_id: str
    advertise_address: str  # host:port peers use to reach this replica
    namespace: str = "default"  # where the membership Leases live
    group: str = "statusagg"  # replicas with the same group share the resources
    lease_duration_s: int = 15
    renew_interval_s: float = 3.0
    renew_deadline_s: float = 10.0
    handover_s: float = 15.0  # longest wait for the agents' resync after the ring changes
    peer: PeerCredentials = field(default_factory=PeerCredentials)
    max_message_bytes: int = 16 * 1024 * 1024


class Replica:
    """Ties membership, ownership, forwarding and the local pipeline together."""

    def __init__(
        self, client: KubeClient, settings: ShardSettings, epoch: str, metrics: Metrics
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.membership = Membership(
            client,
            MembershipSettings(
                replica_id=settings.replica_id,
                address=settings.advertise_address,
                namespace=settings.namespace,
                group=settings.group,
                lease_duration_s=settings.lease_duration_s,
                renew_interval_s=settings.renew_interval_s,
                renew_deadline_s=settings.renew_deadline_s,
            ),
            epoch,
            self._view_changed,
            metrics,
            clusters=lambda: len(self._service.clusters()) if self._service is not None else 0,
        )
        self.ownership = Ownership(
            settings.replica_id,
            self.membership.is_member,
            handover_s=settings.handover_s,
            on_release=self._handover_done,
            metrics=metrics,
        )
        self.peers = Peers(
            settings.replica_id, settings.peer, max_message_bytes=settings.max_message_bytes
        )
        self._service: AggregationService | None = None
        self._router: Router | None = None
        self._background: set[asyncio.Task[None]] = set()

    def may_write(self, key: ResourceKey) -> bool:
        return self.ownership.may_write(key)

    def attach(self, service: AggregationService) -> Router:
        """Serve ``service`` (built with ``may_write=self.may_write``) through a router."""
        self._service = service
        self._router = Router(service, self.ownership, self.peers, self.metrics)
        return self._router

    def ready(self) -> bool:
        return self.membership.is_member()

    def refresh_gauges(self) -> None:
        self.metrics.shard_is_member.set(1 if self.membership.is_member() else 0)
        if self._service is not None:
            self.metrics.shard_owned_keys.set(self._service.store.resource_count())

    async def start(self) -> None:
        await self.membership.start()

    async def stop(self) -> None:
        """Leave the group (peers take our resources over at once) and close peer channels."""
        await self.membership.stop(leave=True)
        self.ownership.close()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self.peers.close()

    def _view_changed(self, view: View) -> None:
        service = self._service
        known = service.clusters() if service is not None else set()
        self.ownership.change(view, known, self.membership.peer_clusters())
        if service is not None:
            dropped = service.forget(self.ownership.owned)
            if dropped:
                log.info("%d resources moved to other replicas", dropped)
        task = asyncio.get_running_loop().create_task(
            self.peers.retain(m.address for m in view.members)
        )
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        self.refresh_gauges()

    def _handover_done(self) -> None:
        if self._service is not None:
            self._service.requeue_all()
