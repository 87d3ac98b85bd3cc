"""Conversions between the gRPC messages and the service's own types."""

from __future__ import annotations

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.ingest import RawItem
from aggregator.model import Health, MemberItem
from aggregator.service import ACCEPTED, ItemResult

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
OUTCOMES = {
    "accepted": pb.ItemResult.OUTCOME_ACCEPTED,
    "stale": pb.ItemResult.OUTCOME_STALE,
    "rejected": pb.ItemResult.OUTCOME_REJECTED,
}


def raw_item(message: pb.MemberStatus) -> RawItem:
    ref = message.resource
    has = message.HasField
    # positional: keyword arguments cost as much again on the hottest line of ingest
    return RawItem(
        message.cluster,
        ref.api_version,
        ref.kind,
        ref.namespace,
        ref.name,
        ref.uid,
        message.status_json,
        message.applied,
        message.applied_message,
        _HEALTH_FROM_PB.get(message.health, "invalid"),
        message.generation if has("generation") else None,
        message.observed_generation if has("observed_generation") else None,
        message.template_generation if has("template_generation") else None,
        message.sequence,
        message.removed,
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
        status_json=item.status_json or b"",
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


_ACCEPTED = pb.ItemResult(outcome=OUTCOMES[ACCEPTED.outcome])


def response(epoch: str, results: list[ItemResult]) -> pb.ReportResponse:
    return pb.ReportResponse(
        epoch=epoch,
        results=[
            _ACCEPTED
            if r is ACCEPTED
            else pb.ItemResult(outcome=OUTCOMES[r.outcome], reason=r.reason)
            for r in results
        ],
    )
