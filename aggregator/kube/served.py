"""Wait for the API server to serve a kind (a CRD installed later, for instance)."""

from __future__ import annotations

import asyncio
import logging

from aggregator.kube.client import KubeClient, NotFound
from aggregator.kube.resources import ResourceType

log = logging.getLogger(__name__)


async def wait_until_served(
    client: KubeClient, api_version: str, kind: str, *, retry_s: float, meanwhile: str
) -> ResourceType:
    """The resource type of ``kind`` once the API server serves it, asked every ``retry_s``;
    while it is not served, ``meanwhile`` (what that means for the caller) is logged once."""
    logged = False
    while True:
        try:
            return await client.resource_type(api_version, kind)
        except NotFound:
            if not logged:
                log.info(
                    "the control plane does not serve %s (%s): %s", kind, api_version, meanwhile
                )
                logged = True
        except Exception as exc:
            log.warning("discovering %s failed: %s", kind, exc)
        await asyncio.sleep(retry_s)
