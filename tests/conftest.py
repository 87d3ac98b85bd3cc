"""Shared fixtures: one real local kube-apiserver per test session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient, load_cluster_access
from aggregator.kube.resources import NAMESPACES


@pytest.fixture(scope="session")
def apiserver() -> Iterator[LocalAPIServer]:
    server = LocalAPIServer()
    server.start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
async def kube(apiserver: LocalAPIServer) -> AsyncIterator[KubeClient]:
    async with KubeClient(load_cluster_access(apiserver.kubeconfig), qps=0) as client:
        yield client


@pytest.fixture
async def namespace(kube: KubeClient) -> str:
    """A fresh namespace per test (deleted namespaces never finish without a controller-manager)."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await kube.create(NAMESPACES, {"metadata": {"name": name}})
    return name
