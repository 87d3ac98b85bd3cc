"""The agent configuration the service hands out: stable revision, objects agents can load."""

from __future__ import annotations

import json

from aggregator.agent.config import documents_of
from aggregator.agentconfig import agent_config
from interpreters import Operation
from interpreters.lua import Document, Script

REFLECT = "function ReflectStatus(observedObj)\n  return {ready = 1}\nend\n"


def document(name: str, kind: str, code: str = REFLECT) -> Document:
    script = Script(Operation.REFLECT, code, name, "api-server")
    return Document(name, ("example.io/v1", kind), {Operation.REFLECT: script})


def test_revision_follows_content_not_order() -> None:
    first = agent_config([document("a", "Widget"), document("b", "Gadget")])
    again = agent_config([document("b", "Gadget"), document("a", "Widget")])
    changed = agent_config([document("a", "Widget", REFLECT + "\n"), document("b", "Gadget")])
    assert first.revision == again.revision
    assert first.revision != changed.revision
    assert [(k.api_version, k.kind) for k in first.kinds] == [
        ("example.io/v1", "Gadget"),
        ("example.io/v1", "Widget"),
    ]


def test_agents_load_what_the_service_hands_out() -> None:
    config = agent_config([document("a", "Widget")])
    [obj] = [json.loads(blob) for blob in config.customizations_json]
    assert obj["spec"]["customizations"] == {"statusReflection": {"luaScript": REFLECT}}
    [loaded] = documents_of(config)
    assert loaded.name == "a"
    assert loaded.target == ("example.io/v1", "Widget")
    assert loaded.scripts[Operation.REFLECT].code == REFLECT


def test_a_customization_that_does_not_load_is_left_out() -> None:
    config = agent_config([document("a", "Widget"), document("b", "Gadget", "function (")])
    assert [d.name for d in documents_of(config)] == ["a"]
