"""Install CustomResourceDefinitions and wait until the API server serves them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from aggregator.kube.client import Conflict, KubeClient, NotFound
from aggregator.kube.resources import ResourceType

CRDS = ResourceType(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False
)
_FILES = Path(__file__).resolve().parents[2] / "deploy" / "charts" / "statusagg" / "files"
RIC_CRD = _FILES / "config.karmada.io_resourceinterpretercustomizations.yaml"
RIWC_CRD = _FILES / "config.karmada.io_resourceinterpreterwebhookconfigurations.yaml"


async def install_crd(
    client: KubeClient, manifest: Mapping[str, Any] | Path, *, within_s: float = 60.0
) -> ResourceType:
    """Create the CRD (an existing one is kept) and return its type once discovery lists it."""
    crd = (
        yaml.safe_load(await asyncio.to_thread(manifest.read_text))
        if isinstance(manifest, Path)
        else manifest
    )
    with contextlib.suppress(Conflict):
        await client.create(CRDS, crd)
    spec = crd["spec"]
    version = next(v["name"] for v in spec["versions"] if v.get("served", True))
    api_version = f"{spec['group']}/{version}"
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            return await client.resource_type(api_version, spec["names"]["kind"])
        except NotFound:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)
