"""MemberItem.aggregated_status_item: Karmada's AggregatedStatusItem JSON shape."""

from __future__ import annotations

import copy
import json

import pytest

from aggregator.model import Health, MemberItem, ResourceKey

KEY = ResourceKey("apps/v1", "Deployment", "default", "web")


def test_resource_key_text() -> None:
    assert str(KEY) == "Deployment.apps/v1 default/web"
    assert str(ResourceKey("v1", "Namespace", "", "prod")) == "Namespace.v1 prod"


def test_resource_keys_are_hashable_and_ordered() -> None:
    a = ResourceKey("apps/v1", "Deployment", "a", "x")
    b = ResourceKey("apps/v1", "Deployment", "b", "x")
    assert sorted([b, a]) == [a, b]
    assert {a: 1}[ResourceKey("apps/v1", "Deployment", "a", "x")] == 1


def test_applied_item_carries_status_and_health() -> None:
    status = {"replicas": 3, "readyReplicas": 2}
    item = MemberItem("member1", KEY, status, health=Health.HEALTHY)
    assert item.aggregated_status_item() == {
        "clusterName": "member1",
        "applied": True,
        "health": "Healthy",
        "status": {"replicas": 3, "readyReplicas": 2},
    }


def test_default_health_is_unknown() -> None:
    assert MemberItem("m", KEY, {"a": 1}).aggregated_status_item()["health"] == "Unknown"


def test_applied_item_without_status_has_no_status_key() -> None:
    item = MemberItem("m", KEY, None, health=Health.UNHEALTHY, generation=4)
    assert item.aggregated_status_item() == {
        "clusterName": "m",
        "applied": True,
        "health": "Unhealthy",
    }


def test_applied_message_is_not_sent_for_an_applied_item() -> None:
    item = MemberItem("m", KEY, {"a": 1}, applied_message="ok")
    assert "appliedMessage" not in item.aggregated_status_item()


@pytest.mark.parametrize("health", list(Health))
def test_not_applied_item_has_no_status_and_unknown_health(health: Health) -> None:
    item = MemberItem(
        "m",
        KEY,
        {"replicas": 3},
        applied=False,
        applied_message="admission webhook denied",
        health=health,
        generation=2,
    )
    assert item.aggregated_status_item() == {
        "clusterName": "m",
        "applied": False,
        "appliedMessage": "admission webhook denied",
        "health": "Unknown",
    }


def test_not_applied_item_without_message() -> None:
    item = MemberItem("m", KEY, None, applied=False)
    assert item.aggregated_status_item() == {
        "clusterName": "m",
        "applied": False,
        "health": "Unknown",
    }


def test_generations_are_folded_into_the_status() -> None:
    status = {"replicas": 3}
    item = MemberItem("m", KEY, status, generation=5, observed_generation=4, template_generation=7)
    assert item.aggregated_status_item()["status"] == {
        "replicas": 3,
        "generation": 5,
        "observedGeneration": 4,
        "resourceTemplateGeneration": 7,
    }
    assert status == {"replicas": 3}  # the stored status is not changed


def test_values_inside_the_status_win_over_reported_generations() -> None:
    status = {"observedGeneration": 9, "generation": 8, "resourceTemplateGeneration": 1}
    before = copy.deepcopy(status)
    item = MemberItem("m", KEY, status, generation=5, observed_generation=4, template_generation=7)
    assert item.aggregated_status_item()["status"] == before
    assert status == before


def test_only_reported_generations_are_folded() -> None:
    item = MemberItem("m", KEY, {"replicas": 1}, observed_generation=0)
    assert item.aggregated_status_item()["status"] == {"replicas": 1, "observedGeneration": 0}


def test_item_is_plain_json() -> None:
    item = MemberItem(
        "m", KEY, {"a": [1, {"b": None}]}, health=Health.HEALTHY, generation=1, sequence=3
    )
    shape = item.aggregated_status_item()
    assert json.loads(json.dumps(shape)) == shape
    assert json.dumps(shape["health"]) == '"Healthy"'


def test_same_content_ignores_sequence_uid_and_arrival() -> None:
    a = MemberItem("m", KEY, {"a": 1}, sequence=1, uid="u1", received_at=1.0)
    b = MemberItem("m", KEY, {"a": 1}, sequence=2, uid="u2", received_at=2.0)
    assert a.same_content(b)
    assert not a.same_content(MemberItem("m", KEY, {"a": 2}))
    assert not a.same_content(MemberItem("m", KEY, {"a": 1}, health=Health.HEALTHY))
