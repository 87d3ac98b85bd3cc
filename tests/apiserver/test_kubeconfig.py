"""Kubeconfig features client-go honours, against the real local kube-apiserver: exec credential
plugins, token files, tls-server-name, proxy-url, and 429 with Retry-After."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from aggregator.devcluster import LocalAPIServer
from aggregator.kube import ApiError, KubeClient, load_cluster_access
from aggregator.kube.config import ClusterAccess, KubeconfigError
from aggregator.kube.credentials import (
    CredentialError,
    ExecCredentials,
    StaticCredentials,
    TokenFileCredentials,
)

NAMESPACE = "/api/v1/namespaces/default"
EXPIRY = "2030-01-01T00:00:00Z"

# An exec plugin: appends its KUBERNETES_EXEC_INFO to runs.jsonl, prints the token of the file
# named by $TOKEN_FILE (or fails with $FAIL), valid until $EXPIRY.
PLUGIN = """
import json, os, sys
from pathlib import Path
here = Path(sys.argv[1])
with open(here / "runs.jsonl", "a") as runs:
    runs.write(os.environ["KUBERNETES_EXEC_INFO"] + "\\n")
if os.environ.get("FAIL"):
    sys.exit(os.environ["FAIL"])
status = {"token": (here / os.environ["TOKEN_FILE"]).read_text().strip()}
if os.environ.get("EXPIRY"):
    status["expirationTimestamp"] = os.environ["EXPIRY"]
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": status}))
"""


def write_kubeconfig(
    folder: Path, apiserver: LocalAPIServer, user: dict[str, Any], **cluster: Any
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "local",
                "cluster": {
                    "server": apiserver.server,
                    "certificate-authority": apiserver.ca_file,
                    **cluster,
                },
            }
        ],
        "users": [{"name": "someone", "user": user}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": "someone"}}],
        "current-context": "local",
    }
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def exec_user(folder: Path, **env: str) -> dict[str, Any]:
    (folder / "plugin.py").write_text(PLUGIN)
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(folder / "plugin.py"), str(folder)],
            "env": [{"name": k, "value": v} for k, v in env.items()],
            "interactiveMode": "Never",
        }
    }


def runs(folder: Path) -> list[dict[str, Any]]:
    path = folder / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def get_default(access: ClusterAccess, **kwargs: Any) -> str:
    async with KubeClient(access, qps=0, **kwargs) as client:
        obj = await client.request("GET", NAMESPACE, verb="get")
    return str(obj["metadata"]["name"])


async def test_exec_plugin_token_is_cached_until_it_expires(
    tmp_path: Path, apiserver: LocalAPIServer
) -> None:
    (tmp_path / "token").write_text(apiserver.token)
    user = exec_user(tmp_path, TOKEN_FILE="token", EXPIRY=EXPIRY)
    access = load_cluster_access(write_kubeconfig(tmp_path, apiserver, user))
    assert runs(tmp_path) == [], "loading the kubeconfig runs no plugin"
    credentials = access.credentials
    assert isinstance(credentials, ExecCredentials)
    async with KubeClient(access, qps=0) as client:
        for _ in range(5):
            await client.request("GET", NAMESPACE, verb="get")
        assert len(runs(tmp_path)) == 1
        info = runs(tmp_path)[0]
        assert info["apiVersion"] == "client.authentication.k8s.io/v1"
        assert info["kind"] == "ExecCredential"
        assert info["spec"]["interactive"] is False

        credentials.clock = lambda: datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC)
        await client.request("GET", NAMESPACE, verb="get")
        assert len(runs(tmp_path)) == 2, "an expired token is fetched again"


async def test_exec_plugin_runs_again_after_a_401(
    tmp_path: Path, apiserver: LocalAPIServer
) -> None:
    (tmp_path / "token").write_text("not-a-valid-token")
    user = exec_user(tmp_path, TOKEN_FILE="token")  # no expiry: cached until the server refuses it
    access = load_cluster_access(write_kubeconfig(tmp_path, apiserver, user))
    async with KubeClient(access, qps=0) as client:
        with pytest.raises(ApiError) as refused:
            await client.request("GET", NAMESPACE, verb="get")
        assert refused.value.status == 401
        (tmp_path / "token").write_text(apiserver.token)
        await client.request("GET", NAMESPACE, verb="get")
        await client.request("GET", NAMESPACE, verb="get")
    assert len(runs(tmp_path)) == 2


async def test_a_failing_exec_plugin_is_a_clear_error(
    tmp_path: Path, apiserver: LocalAPIServer
) -> None:
    user = exec_user(tmp_path, FAIL="login required: run mylogin")
    access = load_cluster_access(write_kubeconfig(tmp_path, apiserver, user))
    with pytest.raises(CredentialError, match="exited with 1: login required: run mylogin"):
        await get_default(access)


async def test_token_file_is_read_again(tmp_path: Path, apiserver: LocalAPIServer) -> None:
    (tmp_path / "token").write_text(apiserver.token + "\n")
    access = load_cluster_access(write_kubeconfig(tmp_path, apiserver, {"tokenFile": "token"}))
    credentials = access.credentials
    assert isinstance(credentials, TokenFileCredentials)
    now = [0.0]
    credentials.clock = lambda: now[0]
    async with KubeClient(access, qps=0) as client:
        await client.request("GET", NAMESPACE, verb="get")
        (tmp_path / "token").write_text("rotated-away")
        await client.request("GET", NAMESPACE, verb="get")  # within the minute: cached
        now[0] = 60.0
        with pytest.raises(ApiError) as refused:
            await client.request("GET", NAMESPACE, verb="get")
        assert refused.value.status == 401
        (tmp_path / "token").write_text(apiserver.token)
        await client.request("GET", NAMESPACE, verb="get")  # the 401 made it read the file again


async def test_tls_server_name_is_verified_instead_of_the_url_host(
    tmp_path: Path, apiserver: LocalAPIServer
) -> None:
    # the serving certificate names 127.0.0.1 and kubernetes, not localhost
    server = apiserver.server.replace("127.0.0.1", "localhost")
    user = {"token": apiserver.token}
    plain = write_kubeconfig(tmp_path, apiserver, user, server=server)
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await get_default(load_cluster_access(plain))
    named = write_kubeconfig(
        tmp_path, apiserver, user, server=server, **{"tls-server-name": "kubernetes"}
    )
    assert await get_default(load_cluster_access(named)) == "default"


class ConnectProxy:
    """An HTTP CONNECT proxy that records the targets it tunnelled to."""

    def __init__(self) -> None:
        self.targets: list[str] = []

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        method, target, _ = (await reader.readline()).decode().split()
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        assert method == "CONNECT"
        self.targets.append(target)
        host, port = target.rsplit(":", 1)
        up_reader, up_writer = await asyncio.open_connection(host, int(port))
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
        sink.close()


async def test_proxy_url_tunnels_the_requests(tmp_path: Path, apiserver: LocalAPIServer) -> None:
    proxy = ConnectProxy()
    listener = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        user = {"token": apiserver.token}
        path = write_kubeconfig(
            tmp_path, apiserver, user, **{"proxy-url": f"http://127.0.0.1:{port}"}
        )
        assert await get_default(load_cluster_access(path)) == "default"
        assert proxy.targets == [apiserver.server.removeprefix("https://")]
    finally:
        listener.close()


def test_unsupported_proxy_schemes_are_refused(tmp_path: Path, apiserver: LocalAPIServer) -> None:
    path = write_kubeconfig(
        tmp_path, apiserver, {"token": "x"}, **{"proxy-url": "socks5://127.0.0.1:1080"}
    )
    with pytest.raises(KubeconfigError, match="only http and https proxies"):
        load_cluster_access(path)


class Throttler:
    """Plain HTTP in front of the real API server: answers 429 with the given Retry-After
    values first, then forwards."""

    def __init__(self, apiserver: LocalAPIServer, retry_after: list[str | None]) -> None:
        self.apiserver = apiserver
        self.retry_after = retry_after
        self.seen = 0
        self.forwarded = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.seen += 1
        if self.retry_after:
            value = self.retry_after.pop(0)
            headers = {"Retry-After": value} if value is not None else {}
            return web.json_response({"kind": "Status"}, status=429, headers=headers)
        self.forwarded += 1
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                self.apiserver.server + request.path_qs,
                headers={"Authorization": request.headers["Authorization"]},
                ssl=load_cluster_access(self.apiserver.kubeconfig).ssl_context,
            ) as answer,
        ):
            return web.Response(
                status=answer.status, body=await answer.read(), content_type="application/json"
            )


@pytest.fixture
async def throttled(apiserver: LocalAPIServer) -> AsyncIterator[tuple[Throttler, ClusterAccess]]:
    throttler = Throttler(apiserver, [])
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", throttler.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    access = ClusterAccess(
        server=f"http://127.0.0.1:{port}",
        ssl_context=False,
        credentials=StaticCredentials(f"Bearer {apiserver.token}"),
    )
    try:
        yield throttler, access
    finally:
        await runner.cleanup()


async def test_429_waits_as_long_as_retry_after_asks(
    throttled: tuple[Throttler, ClusterAccess],
) -> None:
    throttler, access = throttled
    throttler.retry_after = ["1", "2"]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    assert await get_default(access, sleep=sleep) == "default"
    assert waits == [1.0, 2.0]
    assert (throttler.seen, throttler.forwarded) == (3, 1)


async def test_429_retries_are_bounded(throttled: tuple[Throttler, ClusterAccess]) -> None:
    throttler, access = throttled
    throttler.retry_after = ["3600"] * 10
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    with pytest.raises(ApiError) as throttled_error:
        await get_default(access, sleep=sleep, throttle_retries=3, retry_after_max_s=5.0)
    assert throttled_error.value.status == 429
    assert waits == [5.0, 5.0, 5.0]
    assert (throttler.seen, throttler.forwarded) == (4, 0)


async def test_429_without_retry_after_is_not_retried(
    throttled: tuple[Throttler, ClusterAccess],
) -> None:
    throttler, access = throttled
    throttler.retry_after = [None]
    with pytest.raises(ApiError) as refused:
        await get_default(access)
    assert refused.value.status == 429
    assert throttler.seen == 1
