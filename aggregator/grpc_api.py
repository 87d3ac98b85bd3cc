"""The gRPC face of the service: StatusAggregator, the standard health service, reflection."""

from __future__ import annotations

import json

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.auth import Authenticator, AuthError, AuthSettings
from aggregator.ingest import RawItem
from aggregator.model import Health, MemberItem, ResourceKey
from aggregator.service import AggregationService, ItemResult

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["StatusAggregator"].full_name

_HEALTH_FROM_PB = {
    pb.HEALTH_HEALTHY: Health.HEALTHY.value,
    pb.HEALTH_UNHEALTHY: Health.UNHEALTHY.value,
    pb.HEALTH_UNKNOWN: Health.UNKNOWN.value,
    pb.HEALTH_UNSPECIFIED: "",
}
_HEALTH_TO_PB = {
    Health.HEALTHY: pb.HEALTH_HEALTHY,
    Health.UNHEALTHY: pb.HEALTH_UNHEALTHY,
    Health.UNKNOWN: pb.HEALTH_UNKNOWN,
}
_OUTCOMES = {
    "accepted": pb.ItemResult.OUTCOME_ACCEPTED,
    "stale": pb.ItemResult.OUTCOME_STALE,
    "rejected": pb.ItemResult.OUTCOME_REJECTED,
}


def raw_item(message: pb.MemberStatus) -> RawItem:
    ref = message.resource
    return RawItem(
        cluster=message.cluster,
        api_version=ref.api_version,
        kind=ref.kind,
        namespace=ref.namespace,
        name=ref.name,
        uid=ref.uid,
        status_json=message.status_json,
        applied=message.applied,
        applied_message=message.applied_message,
        health=_HEALTH_FROM_PB.get(message.health, "invalid"),
        generation=message.generation if message.HasField("generation") else None,
        observed_generation=(
            message.observed_generation if message.HasField("observed_generation") else None
        ),
        template_generation=(
            message.template_generation if message.HasField("template_generation") else None
        ),
        sequence=message.sequence,
        removed=message.removed,
    )


def member_status(item: MemberItem) -> pb.MemberStatus:
    key = item.key
    message = pb.MemberStatus(
        cluster=item.cluster,
        resource=pb.ResourceRef(
            api_version=key.api_version,
            kind=key.kind,
            namespace=key.namespace,
            name=key.name,
            uid=item.uid,
        ),
        status_json=json.dumps(item.status).encode() if item.status is not None else b"",
        applied=item.applied,
        applied_message=item.applied_message,
        health=_HEALTH_TO_PB[item.health],
        sequence=item.sequence,
    )
    if item.generation is not None:
        message.generation = item.generation
    if item.observed_generation is not None:
        message.observed_generation = item.observed_generation
    if item.template_generation is not None:
        message.template_generation = item.template_generation
    return message


def _response(epoch: str, results: list[ItemResult]) -> pb.ReportResponse:
    return pb.ReportResponse(
        epoch=epoch,
        results=[pb.ItemResult(outcome=_OUTCOMES[r.outcome], reason=r.reason) for r in results],
    )


class StatusAggregatorServicer(pb_grpc.StatusAggregatorServicer):
    def __init__(self, service: AggregationService, authenticator: Authenticator) -> None:
        self.service = service
        self.authenticator = authenticator

    async def _admit(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
        clusters: list[str],
    ) -> None:
        """Refuse the call unless the service is accepting and the caller owns the clusters."""
        if not self.service.accepting:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "the service is shutting down")
        try:
            self.authenticator.authorize(context, clusters)
        except AuthError as exc:
            self.service.metrics.auth_rejected.labels(code=exc.code.name).inc()
            await context.abort(exc.code, str(exc))

    async def Report(  # noqa: N802 (gRPC method name)
        self,
        request: pb.ReportRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.ReportResponse:
        await self._admit(context, [m.cluster for m in request.items])
        results = self.service.report([raw_item(m) for m in request.items])
        return _response(self.service.epoch, results)

    async def Sync(  # noqa: N802
        self,
        request: pb.SyncRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.ReportResponse:
        if not request.cluster:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "Sync needs a cluster")
        await self._admit(context, [request.cluster])
        results = self.service.sync(request.cluster, [raw_item(m) for m in request.items])
        return _response(self.service.epoch, results)

    async def GetAggregate(  # noqa: N802
        self,
        request: pb.GetAggregateRequest,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
    ) -> pb.GetAggregateResponse:
        await self._admit(context, [])
        ref = request.resource
        key = ResourceKey(ref.api_version, ref.kind, ref.namespace, ref.name)
        state = self.service.state(key)
        response = pb.GetAggregateResponse(
            epoch=self.service.epoch,
            items=[member_status(item) for item in self.service.items(key)],
        )
        if state is not None and state.desired is not None:
            response.aggregated_status_json = json.dumps(state.desired).encode()
        if state is not None and state.last_write is not None:
            last = state.last_write
            response.last_write.CopyFrom(
                pb.WriteResult(
                    outcome=last.outcome,
                    message=last.message,
                    resource_version=last.resource_version,
                    unix_ms=int(last.at * 1000),
                )
            )
        elif state is not None:
            response.last_write.CopyFrom(pb.WriteResult(outcome="pending"))
        return response


def build_server(
    service: AggregationService,
    *,
    max_message_bytes: int = 16 * 1024 * 1024,
    enable_reflection: bool = True,
    auth: AuthSettings | None = None,
) -> tuple[grpc.aio.Server, HealthServicer]:
    """A grpc.aio server with StatusAggregator, health and (optionally) reflection."""
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
        ]
    )
    servicer = StatusAggregatorServicer(service, Authenticator(auth or AuthSettings()))
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
