"""What agents learn from the service: the kinds its customizations target and the
customizations themselves (files and live objects), and the interpreter webhook configurations
in use with the kinds they name for InterpretStatus and InterpretHealth, so a new kind needs
one apply."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.webhooks.config import API_VERSION as WEBHOOK_API_VERSION
from aggregator.webhooks.config import KIND as WEBHOOK_KIND
from aggregator.webhooks.config import Webhook
from aggregator.webhooks.layer import member_targets
from interpreters.lua import Document
from interpreters.lua.loader import API_VERSION, KIND

Configuration = tuple[Mapping[str, Any], Sequence[Webhook]]
"""A webhook configuration object and its parsed webhooks."""


def customization_object(document: Document) -> dict[str, Any]:
    """``document`` as a ResourceInterpreterCustomization object."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": document.name},
        "spec": {
            "target": {"apiVersion": document.target[0], "kind": document.target[1]},
            "customizations": {
                script.field: {"luaScript": script.code}
                for _, script in sorted(document.scripts.items())
            },
        },
    }


def webhook_configuration_object(obj: Mapping[str, Any]) -> dict[str, Any]:
    """``obj`` as agents need it: its name and webhooks."""
    return {
        "apiVersion": WEBHOOK_API_VERSION,
        "kind": WEBHOOK_KIND,
        "metadata": {"name": obj["metadata"]["name"]},
        "webhooks": obj["webhooks"],
    }


def agent_config(
    documents: Sequence[Document], configurations: Sequence[Configuration] = ()
) -> pb.AgentConfig:
    """The answer to GetAgentConfig for the customizations and webhook configurations in
    force."""
    objects = sorted(
        (customization_object(d) for d in documents if d.scripts),
        key=lambda obj: (obj["metadata"]["name"], json.dumps(obj["spec"], sort_keys=True)),
    )
    encoded = [_encode(obj) for obj in objects]
    webhooks = sorted(
        (webhook_configuration_object(obj) for obj, _ in configurations),
        key=lambda obj: obj["metadata"]["name"],
    )
    encoded_webhooks = [_encode(obj) for obj in webhooks]
    kinds = sorted(
        {d.target for d in documents if d.scripts}
        | member_targets(w for _, hooks in configurations for w in hooks)
    )
    digest = hashlib.sha256()
    for blob in encoded:
        digest.update(len(blob).to_bytes(8, "big") + blob)
    if encoded_webhooks:
        digest.update(b"webhooks")
    for blob in encoded_webhooks:
        digest.update(len(blob).to_bytes(8, "big") + blob)
    return pb.AgentConfig(
        revision=digest.hexdigest()[:16],
        kinds=[pb.KindRef(api_version=api_version, kind=kind) for api_version, kind in kinds],
        customizations_json=encoded,
        webhooks_json=encoded_webhooks,
    )


def _encode(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
