"""Webhook configurations and ResourceInterpreterContext answers as Karmada reads them."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from aggregator.webhooks.config import ConfigurationError, parse_configuration
from aggregator.webhooks.protocol import BadAnswer, aggregate_answer, context_request
from interpreters import Operation


def configuration(**webhook: Any) -> dict[str, Any]:
    spec = {
        "name": "hook",
        "clientConfig": {"url": "https://hooks.example:8443/interpret"},
        "rules": [
            {
                "operations": ["AggregateStatus"],
                "apiGroups": ["apps.example.io"],
                "apiVersions": ["*"],
                "kinds": ["Widget"],
            }
        ],
        "interpreterContextVersions": ["v1alpha1"],
    }
    return {"metadata": {"name": "widgets"}, "webhooks": [spec | webhook]}


def test_rules_match_group_version_kind_and_operation() -> None:
    [webhook] = parse_configuration(configuration())
    assert webhook.uid == "widgets/hook"
    assert webhook.timeout_s == 10
    assert webhook.matches(("apps.example.io/v1", "Widget"), Operation.AGGREGATE)
    assert webhook.matches(("apps.example.io/v2beta1", "Widget"), Operation.AGGREGATE)
    assert not webhook.matches(("apps.example.io/v1", "Gadget"), Operation.AGGREGATE)
    assert not webhook.matches(("other.io/v1", "Widget"), Operation.AGGREGATE)
    assert not webhook.matches(("apps.example.io/v1", "Widget"), Operation.HEALTH)


def test_core_group_and_wildcard_operations() -> None:
    rule = {"operations": ["*"], "apiGroups": [""], "apiVersions": ["v1"], "kinds": ["*"]}
    [webhook] = parse_configuration(configuration(rules=[rule]))
    assert webhook.matches(("v1", "Service"), Operation.HEALTH)
    assert not webhook.matches(("apps/v1", "Deployment"), Operation.AGGREGATE)


def test_a_service_wins_over_a_url() -> None:
    client = {
        "url": "https://ignored.example",
        "service": {"namespace": "hooks", "name": "interpreter", "path": "/aggregate"},
    }
    [webhook] = parse_configuration(configuration(clientConfig=client))
    assert webhook.url == "https://interpreter.hooks.svc:443/aggregate"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"interpreterContextVersions": ["v2"]}, "does not accept known"),
        ({"timeoutSeconds": 31}, "between 1 and 30"),
        ({"timeoutSeconds": 0}, "between 1 and 30"),
        ({"clientConfig": {"url": "http://plain.example"}}, "must be an https URL"),
        ({"clientConfig": {"url": "https://h", "caBundle": "%%%"}}, "is not base64"),
        (
            {"clientConfig": {"url": "https://h", "caBundle": base64.b64encode(b"x").decode()}},
            "no usable certificate",
        ),
        (
            {
                "rules": [
                    {"operations": ["Explode"], "apiGroups": [], "apiVersions": [], "kinds": []}
                ]
            },
            "unknown operations Explode",
        ),
        (
            {
                "rules": [
                    {"operations": ["*", "Retain"], "apiGroups": [], "apiVersions": [], "kinds": []}
                ]
            },
            "must be the only entry",
        ),
    ],
)
def test_bad_configurations_name_the_webhook(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message) as raised:
        parse_configuration(configuration(**change))
    assert str(raised.value).startswith("webhook hook: ")


def answer(uid: str, **response: Any) -> bytes:
    return json.dumps(
        {
            "apiVersion": "config.karmada.io/v1alpha1",
            "kind": "ResourceInterpreterContext",
            "response": {"uid": uid, "successful": True} | response,
        }
    ).encode()


TEMPLATE = {"apiVersion": "apps.example.io/v1", "kind": "Widget", "metadata": {"name": "w"}}


def test_request_shape() -> None:
    items = [{"clusterName": "m1", "status": {"ready": 1}}]
    request = context_request("u1", "AggregateStatus", TEMPLATE, items)["request"]
    assert request["kind"] == {"group": "apps.example.io", "version": "v1", "kind": "Widget"}
    assert request["operation"] == "AggregateStatus"
    assert request["aggregatedStatus"] == items
    assert request["replicas"] == 0


def test_a_json_patch_sets_the_status_and_no_patch_leaves_the_object() -> None:
    patch = [{"op": "add", "path": "/status", "value": {"ready": 2}}]
    encoded = base64.b64encode(json.dumps(patch).encode()).decode()
    result = aggregate_answer("u", TEMPLATE, answer("u", patch=encoded, patchType="JSONPatch"))
    assert result["status"] == {"ready": 2}
    assert "status" not in TEMPLATE
    assert aggregate_answer("u", TEMPLATE, answer("u")) == TEMPLATE


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (answer("other"), "expected response.uid 'u', got 'other'"),
        (answer("u", patchType="JSONPatch"), "must be given together"),
        (answer("u", patch="W10=", patchType="MergePatch"), "only JSONPatch"),
        (answer("u", patch="not base64!", patchType="JSONPatch"), "not base64-encoded JSON"),
        (
            answer(
                "u",
                patch=base64.b64encode(b'[{"op":"remove","path":"/x"}]').decode(),
                patchType="JSONPatch",
            ),
            "does not apply",
        ),
        (
            answer(
                "u",
                patch=base64.b64encode(b'[{"op":"add","path":"/status","value":3}]').decode(),
                patchType="JSONPatch",
            ),
            "status is a int",
        ),
        (answer("u", successful=False), "must have a status"),
        (b"[]", "not a JSON object"),
        (json.dumps({"response": {"uid": "u"}}).encode(), "is not a config.karmada.io/v1alpha1"),
    ],
)
def test_bad_answers_say_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(BadAnswer, match=message):
        aggregate_answer("u", TEMPLATE, body)
