"""The Go client package (clients/go/reporter) and its example agent against the running service."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography import x509

from aggregator.auth import AuthSettings
from aggregator.devcluster import LocalAPIServer
from aggregator.model import ResourceKey
from aggregator.serve import RunningService, TLSFiles, running
from tests.goclient.test_go_example import MODULE, options
from tests.service.test_access import CA

GO_ENV = {
    "CGO_ENABLED": "0",
    "GOTOOLCHAIN": "local",
    "GOFLAGS": "-mod=readonly -buildvcs=false",
}


def go() -> str:
    found = shutil.which("go")
    if found is None:
        pytest.skip("no Go toolchain on PATH")
    return found


async def run_go(*args: str, env: dict[str, str]) -> tuple[int, str]:
    """Run go without blocking the event loop the service runs on."""
    process = await asyncio.create_subprocess_exec(
        go(),
        *args,
        cwd=MODULE,
        env={**os.environ, **GO_ENV, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=280)
    assert process.returncode is not None
    return process.returncode, output.decode()


def held_clusters(svc: RunningService, name: str, namespace: str = "go") -> list[str]:
    key = ResourceKey("apps/v1", "Deployment", namespace, name)
    return [item.cluster for item in svc.service.items(key)]


@pytest.fixture
async def svc(apiserver: LocalAPIServer) -> AsyncIterator[RunningService]:
    async with running(options(apiserver)) as service:
        yield service


async def test_go_reporter_package(svc: RunningService) -> None:
    code, output = await run_go(
        "test", "-count=1", "-v", "./reporter", env={"STATUSAGG_TEST_SERVER": svc.address}
    )
    assert code == 0, output
    for name in (
        "TestBatchesBoundCountAndBytes",
        "TestChunkedSyncRemovesOnlyWhatTheLastSyncLacks",
        "TestTwoHundredItemsOf100KB",
        "TestReporterSession",
    ):
        assert f"--- PASS: {name}" in output, output
    # what the Go tests left, seen from the service
    assert svc.service.store.held()["member-go-sync"][0] == 4000
    assert held_clusters(svc, "sync-999") == []
    assert held_clusters(svc, "sync-1000") == ["member-go-sync"]
    assert svc.service.store.held()["member-go-big"][0] == 150
    assert held_clusters(svc, "worker") == []
    web = svc.service.items(ResourceKey("apps/v1", "Deployment", "go", "web"))
    assert [(i.cluster, i.status) for i in web] == [
        ("member-go-session", {"replicas": 3, "readyReplicas": 1})
    ]


@pytest.fixture(scope="module")
def tls_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca = CA("statusagg-go-test-ca")
    folder = tmp_path_factory.mktemp("go-tls")
    server = ca.issue("statusagg", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    (folder / "tls.crt").write_bytes(server.cert)
    (folder / "tls.key").write_bytes(server.key)
    (folder / "ca.crt").write_bytes(ca.pem)
    return folder


async def test_go_reporter_over_tls_with_a_token(
    apiserver: LocalAPIServer, tls_folder: Path
) -> None:
    served = dataclasses.replace(
        options(apiserver, AuthSettings(tokens={"token-of-go": "member-go-tls"})),
        tls=TLSFiles(tls_folder / "tls.crt", tls_folder / "tls.key"),
    )
    async with running(served) as svc:
        code, output = await run_go(
            *("test", "-count=1", "-v", "-run", "TestTLSAndToken", "./reporter"),
            env={
                "STATUSAGG_TEST_TLS_SERVER": svc.address,
                "STATUSAGG_TEST_TLS_CA": str(tls_folder / "ca.crt"),
                "STATUSAGG_TEST_TOKEN": "token-of-go",
            },
        )
        assert code == 0, output
        assert "--- PASS: TestTLSAndToken" in output, output
        tls_items = svc.service.items(ResourceKey("apps/v1", "Deployment", "go", "tls"))
        assert [(i.cluster, i.status) for i in tls_items] == [
            ("member-go-tls", {"replicas": 3, "readyReplicas": 3})
        ]


async def test_go_example_agent(svc: RunningService) -> None:
    code, output = await run_go(
        *("run", "./examples/agent", "--server", svc.address),
        *("--cluster", "member-go-example", "--namespace", "example"),
        env={},
    )
    assert code == 0, output
    assert f"synced 3 items, service epoch {svc.service.epoch}" in output
    prefix = "member-go-example example/web: "
    printed = [line.removeprefix(prefix) for line in output.splitlines() if line.startswith(prefix)]
    assert len(printed) == 1, output
    assert json.loads(printed[0])["readyReplicas"] == 1
    assert held_clusters(svc, "api", "example") == ["member-go-example"]
    assert held_clusters(svc, "worker", "example") == []
