"""The gRPC face of the service: StatusAggregator, the standard health service, reflection."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable
from typing import NoReturn, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from aggregator.agentconfig import agent_config
from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.auth import Authenticator, AuthError, AuthSettings, Caller
from aggregator.chunkedsync import ChunkedSyncs, PartialSync, Superseded, SyncTooLarge
from aggregator.ingest import Limits, RawItem, Rejected, Validator
from aggregator.model import ResourceKey
from aggregator.rpcmetrics import RpcMetrics
from aggregator.service import AggregationService
from aggregator.shard.peers import VIEW_METADATA
from aggregator.shard.routedsync import RoutedSync
from aggregator.shard.router import NoOwner, Router
from aggregator.wire import member_status, raw_item, response

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["StatusAggregator"].full_name

T = TypeVar("T")


class StatusAggregatorServicer(pb_grpc.StatusAggregatorServicer):
    """Report, Sync and GetAggregate; with a router, calls are split among the replicas."""

    def __init__(
        self,
        service: AggregationService,
        authenticator: Authenticator,
        router: Router | None = None,
    ) -> None:
        self.service = service
        self.authenticator = authenticator
        self.router = router
        self.chunked = ChunkedSyncs(service)

    @property
    def epoch(self) -> str:
        """What agents compare to decide on a resync: the view id when sharded."""
        return self.router.view.id if self.router is not None else self.service.epoch

    async def _refuse(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
        exc: AuthError,
    ) -> NoReturn:
        self.service.metrics.auth_rejected.labels(code=exc.code.name).inc()
        await context.abort(exc.code, str(exc))

    async def _admit(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> tuple[Caller, str | None]:
        """Refuse the call unless the service is accepting and the caller is known; a call
        forwarded by a peer must come from the peer identity, under this replica's view.

        Returns the caller and, for a forwarded call, the sender's view id (else None)."""
        if not self.service.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the service is shutting down")
        view_id = _metadata(context, VIEW_METADATA)
        try:
            caller = self.authenticator.identify(context)
            if view_id is not None:
                self.authenticator.authorize_forward(caller)
        except AuthError as exc:
            await self._refuse(context, exc)
        if view_id is not None:
            if self.router is None:
                await context.abort(
                    grpc.StatusCode.FAILED_PRECONDITION, "this replica is not sharded"
                )
            try:
                self.router.check_view(view_id)
            except NoOwner as exc:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        return caller, view_id

    async def _authorize_report(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
        caller: Caller,
        forwarded: str | None,
        clusters: list[str],
    ) -> None:
        """A member reports only for itself; a forwarded call was checked where it arrived."""
        if forwarded is not None:
            return
        try:
            self.authenticator.authorize_report(caller, clusters)
        except AuthError as exc:
            await self._refuse(context, exc)

    async def _routed(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
        call: Awaitable[T],
    ) -> T:
        """Await a routed call; a routing failure becomes UNAVAILABLE, which agents retry."""
        try:
            return await call
        except (NoOwner, grpc.aio.AioRpcError) as exc:
            text = exc.details() if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            self.service.metrics.shard_forward_errors.inc()
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"routing failed: {text}")

    async def Report(  # noqa: N802 (gRPC method name)
        self,
        request: pb.ReportRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.ReportResponse:
        caller, forwarded = await self._admit(context)
        await self._authorize_report(context, caller, forwarded, [m.cluster for m in request.items])
        if self.router is None or forwarded is not None:
            results = await self.service.report_off_loop([raw_item(m) for m in request.items])
            return response(self.epoch, results)
        return await self._routed(context, self.router.report(request.items))

    async def Sync(  # noqa: N802
        self,
        request: pb.SyncRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.ReportResponse:
        caller, forwarded = await self._admit(context)
        if not request.cluster:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Sync needs a cluster")
        await self._authorize_report(context, caller, forwarded, [request.cluster])
        self.chunked.supersede(request.cluster)
        if self.router is None:
            results = await self.service.sync_off_loop(
                request.cluster, [raw_item(m) for m in request.items]
            )
            return response(self.epoch, results)
        if forwarded is not None:
            # parsed off the loop: stored only if the view is still the sender's
            router, view_id = self.router, forwarded
            results = await self._routed(
                context,
                router.sync_local(
                    request.cluster, request.items, lambda: router.check_view(view_id)
                ),
            )
            return response(self.epoch, results)
        return await self._routed(context, self.router.sync(request.cluster, request.items))

    async def SyncChunks(  # noqa: N802
        self,
        request_iterator: AsyncIterator[pb.SyncChunk],
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.ReportResponse:
        """A Sync in chunks, applied only when the chunk marked ``last`` arrives."""
        caller, forwarded = await self._admit(context)
        partial: PartialSync | RoutedSync | None = None
        reply: pb.ReportResponse | None = None
        try:
            async for chunk in request_iterator:
                if partial is None:
                    if not chunk.cluster:
                        await context.abort(
                            grpc.StatusCode.INVALID_ARGUMENT, "the first chunk needs a cluster"
                        )
                    await self._authorize_report(context, caller, forwarded, [chunk.cluster])
                    partial = await self._begin_sync(context, chunk.cluster, forwarded)
                elif chunk.cluster and chunk.cluster != partial.cluster:
                    await context.abort(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"a chunk of cluster {chunk.cluster!r} in a Sync of {partial.cluster!r}",
                    )
                reply = await self._sync_chunk(context, partial, chunk, forwarded)
                if reply is not None:
                    break
        except Superseded as exc:
            await context.abort(grpc.StatusCode.ABORTED, str(exc))
        except SyncTooLarge as exc:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        finally:
            if isinstance(partial, RoutedSync):
                partial.abandon()
            elif partial is not None:
                self.chunked.abandon(partial)
        if reply is None:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "the Sync ended before its last chunk: nothing was applied",
            )
        return reply

    async def _sync_chunk(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
        partial: PartialSync | RoutedSync,
        chunk: pb.SyncChunk,
        forwarded: str | None,
    ) -> pb.ReportResponse | None:
        """Take one chunk; the answer once the last one is applied, else None.

        A share forwarded by a peer is applied only under the view it was split by."""
        if isinstance(partial, RoutedSync):
            await self._routed(context, partial.add(chunk.items))
            return await self._routed(context, partial.commit()) if chunk.last else None
        await self.chunked.add(partial, [raw_item(m) for m in chunk.items])
        if not chunk.last:
            return None
        if self.router is not None and forwarded is not None:
            try:
                self.router.check_view(forwarded)
            except NoOwner as exc:
                await context.abort(grpc.StatusCode.UNAVAILABLE, str(exc))
        results = self.chunked.commit(partial)
        if self.router is not None:
            self.router.ownership.synced(partial.cluster)
        return response(self.epoch, results)

    async def _begin_sync(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
        cluster: str,
        forwarded: str | None,
    ) -> PartialSync | RoutedSync:
        """Gather here, or split among the replicas when this one is where the Sync arrived."""
        if self.router is None or forwarded is not None:
            return self.chunked.begin(cluster)
        try:
            return RoutedSync(cluster, self.router, self.chunked)
        except NoOwner as exc:
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"routing failed: {exc}")

    async def GetAggregate(  # noqa: N802
        self,
        request: pb.GetAggregateRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.GetAggregateResponse:
        """Members see only their own items; readers, peers and anonymous callers (no
        authentication) see every item, the aggregated status and the last write."""
        caller, forwarded = await self._admit(context)
        problem = _reference_problem(request.resource)
        if problem:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        if self.router is None or forwarded is not None:
            reply = self._aggregate(request)
        else:
            reply = await self._routed(context, self.router.get_aggregate(request, self._aggregate))
        if forwarded is None and not reply.items and not reply.HasField("last_write"):
            ref = request.resource
            await context.abort(
                grpc.StatusCode.NOT_FOUND,
                f"no member reported {ref.kind} {ref.namespace}/{ref.name} ({ref.api_version})"
                if ref.namespace
                else f"no member reported {ref.kind} {ref.name} ({ref.api_version})",
            )
        return reply if caller.reads_everything else _own_share(reply, caller.identity)

    async def GetAgentConfig(  # noqa: N802
        self,
        request: pb.GetAgentConfigRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.AgentConfig:
        """Any admitted caller may read it: it holds only the customizations' kinds and scripts
        and the webhook configurations (URLs and CA certificates, no secrets)."""
        await self._admit(context)
        return agent_config(
            self.service.customization_documents(), self.service.webhook_configurations()
        )

    def _aggregate(self, request: pb.GetAggregateRequest) -> pb.GetAggregateResponse:
        ref = request.resource
        key = ResourceKey(ref.api_version, ref.kind, ref.namespace, ref.name)
        state = self.service.state(key)
        reply = pb.GetAggregateResponse(
            epoch=self.epoch,
            items=[member_status(item) for item in self.service.items(key)],
        )
        if state is not None and state.desired is not None:
            reply.aggregated_status_json = json.dumps(state.desired).encode()
        if state is not None and state.last_write is not None:
            last = state.last_write
            reply.last_write.CopyFrom(
                pb.WriteResult(
                    outcome=last.outcome,
                    message=last.message,
                    resource_version=last.resource_version,
                    unix_ms=int(last.at * 1000),
                )
            )
        elif state is not None:
            reply.last_write.CopyFrom(pb.WriteResult(outcome="pending"))
        return reply


def _reference_problem(ref: pb.ResourceRef) -> str:
    """Why ``ref`` cannot name a resource, or an empty string."""
    if not ref.api_version or not ref.kind or not ref.name:
        return "the resource needs an api_version, a kind and a name"
    try:
        Validator(lambda _api_version, _kind: True, Limits()).validate(_probe(ref))
    except Rejected as exc:
        return f"the resource reference is malformed: {exc}"
    return ""


def _probe(ref: pb.ResourceRef) -> RawItem:
    """An empty report of ``ref``, to check its names as a report's would be."""
    return RawItem(
        cluster="probe",
        api_version=ref.api_version,
        kind=ref.kind,
        namespace=ref.namespace,
        name=ref.name,
        uid="",
        status_json=b"",
        applied=False,
        applied_message="",
        health="",
        generation=None,
        observed_generation=None,
        template_generation=None,
        sequence=0,
        removed=False,
    )


def _own_share(reply: pb.GetAggregateResponse, cluster: str) -> pb.GetAggregateResponse:
    """The part of an answer one member may see: its own items, nothing aggregated."""
    return pb.GetAggregateResponse(
        epoch=reply.epoch, items=[i for i in reply.items if i.cluster == cluster]
    )


def _metadata(context: grpc.aio.ServicerContext, name: str) -> str | None:  # type: ignore[type-arg]
    for key, value in context.invocation_metadata() or ():
        if key == name and isinstance(value, str):
            return value
    return None


def build_server(
    service: AggregationService,
    *,
    max_message_bytes: int = 16 * 1024 * 1024,
    max_connection_age_s: float = 300.0,
    max_connection_age_grace_s: float = 60.0,
    enable_reflection: bool = True,
    auth: AuthSettings | None = None,
    router: Router | None = None,
) -> tuple[grpc.aio.Server, HealthServicer]:
    """A grpc.aio server with StatusAggregator, health and (optionally) reflection.

    Connections are closed after ``max_connection_age_s`` (0: never), calls in flight given
    ``max_connection_age_grace_s`` to finish: clients reconnect, through a Kubernetes Service
    to any replica, so a replica that starts later gets its share of them."""
    options: list[tuple[str, int]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]
    if max_connection_age_s > 0:
        options += [
            ("grpc.max_connection_age_ms", int(max_connection_age_s * 1000)),
            ("grpc.max_connection_age_grace_ms", int(max_connection_age_grace_s * 1000)),
        ]
    server = grpc.aio.server(
        interceptors=[RpcMetrics(service.metrics.rpc_duration)], options=options
    )
    servicer = StatusAggregatorServicer(service, Authenticator(auth or AuthSettings()), router)
    pb_grpc.add_StatusAggregatorServicer_to_server(servicer, server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    if enable_reflection:
        reflection.enable_server_reflection(
            (
                SERVICE_NAME,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
    return server, health_servicer
