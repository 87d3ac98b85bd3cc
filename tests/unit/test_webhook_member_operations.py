"""InterpretStatus and InterpretHealth as Karmada speaks them, and what the service hands agents
of its webhook configurations."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from prometheus_client import Counter

from aggregator.agent.config import webhooks_of
from aggregator.agentconfig import agent_config
from aggregator.webhooks.calls import WebhookCalls
from aggregator.webhooks.config import parse_configuration
from aggregator.webhooks.layer import MEMBER_OPERATIONS, WebhookLayer, member_targets
from aggregator.webhooks.protocol import BadAnswer, context_request, health_answer, status_answer
from interpreters import InterpreterError, Operation

MEMBER = {
    "apiVersion": "apps.example.io/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "ns"},
    "status": {"ready": 1},
}


def answer(response: dict[str, Any], uid: str = "u1") -> bytes:
    return json.dumps(
        {
            "apiVersion": "config.karmada.io/v1alpha1",
            "kind": "ResourceInterpreterContext",
            "response": {"uid": uid, "successful": True} | response,
        }
    ).encode()


def configuration(name: str, operations: list[str], kinds: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "config.karmada.io/v1alpha1",
        "kind": "ResourceInterpreterWebhookConfiguration",
        "metadata": {"name": name, "resourceVersion": "7", "uid": "x"},
        "webhooks": [
            {
                "name": "hook",
                "clientConfig": {"url": "https://hooks.example/interpret"},
                "rules": [
                    {
                        "operations": operations,
                        "apiGroups": ["apps.example.io"],
                        "apiVersions": ["v1"],
                        "kinds": kinds,
                    }
                ],
                "interpreterContextVersions": ["v1alpha1"],
            }
        ],
    }


def loaded(obj: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    return obj, parse_configuration(obj)


def test_member_requests_carry_the_member_object_and_no_items() -> None:
    request = context_request("u1", "InterpretStatus", MEMBER)["request"]
    assert request["operation"] == "InterpretStatus"
    assert request["object"] == MEMBER
    assert (request["name"], request["namespace"]) == ("w", "ns")
    assert "aggregatedStatus" not in request


def test_raw_status_and_healthy_are_read_and_checked() -> None:
    assert status_answer("u1", answer({"rawStatus": {"ready": 2}})) == {"ready": 2}
    assert status_answer("u1", answer({"rawStatus": None})) is None
    assert health_answer("u1", answer({"healthy": False})) is False


@pytest.mark.parametrize(
    ("body", "read", "message"),
    [
        (answer({}), status_answer, "no response.rawStatus"),
        (answer({"rawStatus": [1]}), status_answer, "rawStatus is a list"),
        (answer({}), health_answer, "healthy must be a boolean, got None"),
        (answer({"healthy": "yes"}), health_answer, "healthy must be a boolean"),
        (answer({"healthy": True}, uid="u2"), health_answer, "expected response.uid"),
        (
            answer({"successful": False, "status": {"code": 500, "message": "down"}}),
            status_answer,
            "get status code: 500, msg: down",
        ),
    ],
)
def test_bad_member_answers_say_what_is_wrong(body: bytes, read: Any, message: str) -> None:
    with pytest.raises(BadAnswer, match=message):
        read("u1", body)


def test_agents_watch_kinds_named_exactly_for_member_operations() -> None:
    hooks = parse_configuration(configuration("a", ["InterpretStatus"], ["Widget"]))
    hooks += parse_configuration(configuration("b", ["*"], ["Gadget"]))
    hooks += parse_configuration(configuration("c", ["AggregateStatus"], ["Gizmo"]))
    hooks += parse_configuration(configuration("d", ["InterpretHealth"], ["*"]))
    assert member_targets(hooks) == {
        ("apps.example.io/v1", "Widget"),
        ("apps.example.io/v1", "Gadget"),
    }


def test_the_agent_config_holds_webhook_configurations_in_a_stable_order() -> None:
    widgets = loaded(configuration("widgets", ["InterpretStatus"], ["Widget"]))
    gizmos = loaded(configuration("gizmos", ["AggregateStatus"], ["Gizmo"]))
    config = agent_config([], [widgets, gizmos])
    assert config.revision == agent_config([], [gizmos, widgets]).revision
    assert config.revision != agent_config([]).revision
    assert [(k.api_version, k.kind) for k in config.kinds] == [("apps.example.io/v1", "Widget")]
    objects = [json.loads(blob) for blob in config.webhooks_json]
    assert [obj["metadata"] for obj in objects] == [{"name": "gizmos"}, {"name": "widgets"}]
    changed = configuration("widgets", ["InterpretStatus"], ["Widget"])
    changed["webhooks"][0]["timeoutSeconds"] = 3
    assert agent_config([], [loaded(changed), gizmos]).revision != config.revision

    config.webhooks_json.append(b"[]")
    config.webhooks_json.append(json.dumps({"metadata": {"name": "bad"}, "webhooks": 1}).encode())
    assert [w.uid for w in webhooks_of(config)] == ["gizmos/hook", "widgets/hook"]


async def test_member_operations_refuse_to_block_their_own_event_loop() -> None:
    counter = Counter("calls", "", ["configuration", "operation", "result"], registry=None)
    calls = WebhookCalls(counter)
    hooks = parse_configuration(configuration("widgets", ["*"], ["Widget"]))
    layer = WebhookLayer(hooks, calls, MEMBER_OPERATIONS, loop=asyncio.get_running_loop())
    target = ("apps.example.io/v1", "Widget")
    assert layer.find(target, Operation.AGGREGATE) is None
    hook = layer.find(target, Operation.REFLECT)
    assert hook is not None
    assert hook.reflect is not None
    with pytest.raises(InterpreterError, match="called on the event loop"):
        hook.reflect(MEMBER)
    with pytest.raises(ValueError, match="need the event loop"):
        WebhookLayer(hooks, calls, MEMBER_OPERATIONS)
    await calls.close()
