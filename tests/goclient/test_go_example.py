"""The Go client's example agent (clients/go/examples/report) against the running service."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from aggregator.auth import AuthSettings
from aggregator.devcluster import LocalAPIServer, sample_deployment
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.serve import RunningService, ServeOptions, running
from tests.helpers import eventually

MODULE = Path(__file__).resolve().parents[2] / "clients" / "go"


@pytest.fixture(scope="module")
def report_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    go = shutil.which("go")
    if go is None:
        pytest.skip("no Go toolchain on PATH")
    target = tmp_path_factory.mktemp("goclient") / "report"
    env = {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
        "GOFLAGS": "-mod=readonly -buildvcs=false",
    }
    build = subprocess.run(
        [go, "build", "-trimpath", "-o", str(target), "./examples/report"],
        cwd=MODULE,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, f"go build failed:\n{build.stderr}"
    return target


def options(apiserver: LocalAPIServer, auth: AuthSettings | None = None) -> ServeOptions:
    return ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        auth=auth or AuthSettings(),
    )


@pytest.fixture
async def svc(apiserver: LocalAPIServer) -> AsyncIterator[RunningService]:
    async with running(options(apiserver)) as service:
        yield service


async def run(binary: Path, *args: str, token: str = "") -> tuple[int, str]:
    """Run the example without blocking the event loop the service runs on."""
    env = {k: v for k, v in os.environ.items() if k != "STATUSAGG_TOKEN"}
    if token:
        env["STATUSAGG_TOKEN"] = token
    process = await asyncio.create_subprocess_exec(
        binary,
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_reported_status_reaches_the_template(
    report_binary: Path, svc: RunningService, kube: KubeClient, namespace: str
) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("web", namespace, replicas=3))
    code, output = await run(
        report_binary,
        *("--server", svc.address, "--cluster", "member-go", "--namespace", namespace),
        *("--name", "web", "--ready", "2", "--replicas", "3"),
    )
    assert code == 0, output
    assert f"member-go {namespace}/web: OUTCOME_ACCEPTED" in output
    assert f"epoch {svc.service.epoch}" in output

    async def written() -> dict[str, Any] | None:
        status: dict[str, Any] = (await kube.get(DEPLOYMENTS, namespace, "web")).get("status", {})
        return status if "readyReplicas" in status else None

    assert await eventually(written) == {
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": 2,
        "availableReplicas": 2,
        "observedGeneration": 1,
    }


async def test_rejected_item_fails_the_command(report_binary: Path, svc: RunningService) -> None:
    code, output = await run(
        report_binary,
        *("--server", svc.address, "--cluster", "Not_A_Cluster_Name", "--name", "web"),
    )
    assert code == 1, output
    assert "OUTCOME_REJECTED (" in output


async def test_bearer_token_from_the_environment(
    report_binary: Path, apiserver: LocalAPIServer
) -> None:
    auth = AuthSettings(tokens={"token-of-member-go": "member-go"})
    async with running(options(apiserver, auth)) as service:
        args = ("--server", service.address, "--cluster", "member-go", "--name", "web")
        code, output = await run(report_binary, *args)
        assert code == 2, output
        assert "code = Unauthenticated" in output
        code, output = await run(report_binary, *args, token="token-of-member-go")
        assert code == 0, output
        assert "member-go default/web: OUTCOME_ACCEPTED" in output
        code, output = await run(
            report_binary,
            *("--server", service.address, "--cluster", "member-other", "--name", "web"),
            token="token-of-member-go",
        )
        assert code == 2, output
        assert "code = PermissionDenied" in output
