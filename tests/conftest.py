"""Shared fixtures: one real local kube-apiserver per test session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient, load_cluster_access
from aggregator.kube.resources import NAMESPACES
from tests.helpers import MEMBER_CLUSTERS


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


@pytest.fixture(scope="module")
def members(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, LocalAPIServer]]:
    """A real kube-apiserver per member cluster, for tests that run agents."""
    servers = {c: LocalAPIServer(tmp_path_factory.mktemp(c)) for c in MEMBER_CLUSTERS}
    try:
        for server in servers.values():
            server.start()
        yield servers
    finally:
        for server in servers.values():
            server.cleanup()
