"""gRPC clients to the other replicas, used to forward items to their owner.

A forwarded call is an ordinary Report, Sync or GetAggregate carrying two metadata entries: the
view id of the sender (the owner refuses it if its own view differs, so an item never lands on
a replica that does not own it) and the sender's replica id. With authentication on, the call
also carries the peer credentials: the replica's certificate (mTLS) or the peer token.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.shard.lease import Member

VIEW_METADATA = "statusagg-view"
FORWARDED_BY_METADATA = "statusagg-forwarded-by"


@dataclass(frozen=True)
class PeerCredentials:
    """How this replica calls its peers: TLS roots and client certificate, or a bearer token."""

    root_certificates: bytes | None = None  # None: plaintext
    private_key: bytes | None = None
    certificate_chain: bytes | None = None
    token: str = ""
    server_name: str = ""  # the name to verify on peer certificates (they are dialled by IP)

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        if self.root_certificates is None:
            return None
        return grpc.ssl_channel_credentials(
            self.root_certificates, self.private_key, self.certificate_chain
        )


class Peers:
    """One channel per peer address; forwards batches with the sender's view attached."""

    def __init__(
        self,
        replica_id: str,
        credentials: PeerCredentials | None = None,
        *,
        max_message_bytes: int = 16 * 1024 * 1024,
        timeout_s: float = 15.0,
    ) -> None:
        self._replica_id = replica_id
        self._credentials = credentials or PeerCredentials()
        self._options: list[tuple[str, str | int]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if self._credentials.server_name:
            self._options.append(("grpc.ssl_target_name_override", self._credentials.server_name))
        self._timeout_s = timeout_s
        self._stubs: dict[str, tuple[grpc.aio.Channel, pb_grpc.StatusAggregatorAsyncStub]] = {}

    def _stub(self, address: str) -> pb_grpc.StatusAggregatorAsyncStub:
        found = self._stubs.get(address)
        if found is None:
            creds = self._credentials.channel_credentials()
            channel = (
                grpc.aio.secure_channel(address, creds, options=self._options)
                if creds is not None
                else grpc.aio.insecure_channel(address, options=self._options)
            )
            found = self._stubs[address] = (channel, pb_grpc.StatusAggregatorStub(channel))
        return found[1]

    def _metadata(self, view_id: str) -> tuple[tuple[str, str], ...]:
        metadata: tuple[tuple[str, str], ...] = (
            (VIEW_METADATA, view_id),
            (FORWARDED_BY_METADATA, self._replica_id),
        )
        if self._credentials.token:
            metadata += (("authorization", f"Bearer {self._credentials.token}"),)
        return metadata

    async def report(
        self, peer: Member, view_id: str, items: Sequence[pb.MemberStatus]
    ) -> pb.ReportResponse:
        return await self._stub(peer.address).Report(
            pb.ReportRequest(items=items),
            metadata=self._metadata(view_id),
            timeout=self._timeout_s,
        )

    async def sync(
        self, peer: Member, view_id: str, cluster: str, items: Sequence[pb.MemberStatus]
    ) -> pb.ReportResponse:
        return await self._stub(peer.address).Sync(
            pb.SyncRequest(cluster=cluster, items=items),
            metadata=self._metadata(view_id),
            timeout=self._timeout_s,
        )

    def sync_chunks(self, peer: Member, view_id: str) -> Any:
        """Open a chunked Sync to ``peer``: write its chunks, then await the answer."""
        # no request iterator: the caller writes the chunks on the returned call
        return self._stub(peer.address).SyncChunks(metadata=self._metadata(view_id))  # type: ignore[call-arg]

    async def get_aggregate(
        self, peer: Member, view_id: str, request: pb.GetAggregateRequest
    ) -> pb.GetAggregateResponse:
        return await self._stub(peer.address).GetAggregate(
            request, metadata=self._metadata(view_id), timeout=self._timeout_s
        )

    async def retain(self, addresses: Iterable[str]) -> None:
        """Close the channels of peers that left."""
        keep = set(addresses)
        for address in [a for a in self._stubs if a not in keep]:
            channel, _ = self._stubs.pop(address)
            await channel.close(None)

    async def close(self) -> None:
        await self.retain(())
