"""What agents learn from the service: the kinds its customizations target and the
customizations themselves (files and live objects), so a new kind needs one apply."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from interpreters.lua import Document
from interpreters.lua.loader import API_VERSION, KIND


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


def agent_config(documents: Sequence[Document]) -> pb.AgentConfig:
    """The answer to GetAgentConfig for the customizations in force."""
    objects = sorted(
        (customization_object(d) for d in documents if d.scripts),
        key=lambda obj: (obj["metadata"]["name"], json.dumps(obj["spec"], sort_keys=True)),
    )
    encoded = [json.dumps(obj, sort_keys=True, separators=(",", ":")).encode() for obj in objects]
    kinds = sorted({d.target for d in documents if d.scripts})
    digest = hashlib.sha256()
    for blob in encoded:
        digest.update(len(blob).to_bytes(8, "big") + blob)
    return pb.AgentConfig(
        revision=digest.hexdigest()[:16],
        kinds=[pb.KindRef(api_version=api_version, kind=kind) for api_version, kind in kinds],
        customizations_json=encoded,
    )
