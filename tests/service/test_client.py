"""The public Python client (aggregator.client) against a running service: messages split by
bytes, reconnection across the server's maximum connection age, TLS, mTLS and tokens,
GetAggregate answers."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.auth import AuthSettings, IdentitySource
from aggregator.client import TLS, Limits, Reporter, StatusClient, batches, open_channel
from aggregator.devcluster import LocalAPIServer
from aggregator.model import ResourceKey
from aggregator.serve import RunningService, ServeOptions, TLSFiles, running
from tests.helpers import eventually
from tests.service.test_access import CA, spiffe

NAMESPACE = "client"
ACCEPTED = pb.ItemResult.OUTCOME_ACCEPTED
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "python-client" / "report.py"


def item(name: str, cluster: str = "member-a", *, ready: int = 1, pad: int = 0) -> pb.MemberStatus:
    status = {"replicas": 1, "readyReplicas": ready}
    if pad:
        status["message"] = "x" * pad  # type: ignore[assignment]
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace=NAMESPACE, name=name
        ),
        status_json=json.dumps(status).encode(),
        applied=True,
        sequence=1,
    )


def options(apiserver: LocalAPIServer, **changes: object) -> ServeOptions:
    base = ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def ready_of(svc: RunningService, name: str, cluster: str = "member-a") -> int | None:
    for held in svc.service.items(ResourceKey("apps/v1", "Deployment", NAMESPACE, name)):
        if held.cluster == cluster and held.status is not None:
            ready: int = held.status["readyReplicas"]
            return ready
    return None


@pytest.fixture(scope="module")
async def svc(apiserver: LocalAPIServer) -> AsyncIterator[RunningService]:
    async with running(options(apiserver)) as service:
        yield service


@pytest.fixture
async def channel(svc: RunningService) -> AsyncIterator[grpc.aio.Channel]:
    async with open_channel(svc.address) as opened:
        yield opened


async def test_two_hundred_items_of_100_kb(svc: RunningService, channel: grpc.aio.Channel) -> None:
    items = [item(f"big-{i}", pad=100_000) for i in range(200)]
    # one message of 20 MB is over the service's 16 MiB limit
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await pb_grpc.StatusAggregatorStub(channel).Sync(
            pb.SyncRequest(cluster="member-a", items=items), timeout=30
        )
    assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    client = StatusClient.over(channel)
    answer = await client.report(items)
    assert [r.outcome for r in answer.results] == [ACCEPTED] * 200
    answer = await client.sync("member-a", items[:150])
    assert [r.outcome for r in answer.results] == [ACCEPTED] * 150
    assert svc.service.store.held()["member-a"][0] == 150
    assert ready_of(svc, "big-199") is None


async def test_count_and_bytes_both_bound_a_message() -> None:
    small = [item(f"s-{i}") for i in range(7)]
    assert [len(b) for b in batches(small, max_items=3, max_bytes=1 << 20)] == [3, 3, 1]
    big = [item(f"b-{i}", pad=1000) for i in range(5)]
    size = big[0].ByteSize()
    # room for two items next to the message's own overhead
    assert [len(b) for b in batches(big, max_items=100, max_bytes=1024 + 2 * size + 20)] == [
        2,
        2,
        1,
    ]
    # an item over the bound still goes, alone
    assert [len(b) for b in batches(big, max_items=100, max_bytes=10)] == [1] * 5


@contextlib.asynccontextmanager
async def reporting(reporter: Reporter) -> AsyncIterator[Reporter]:
    task = asyncio.create_task(reporter.run())
    try:
        await eventually(lambda: _done(reporter.synced.is_set()))
        yield reporter
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _done(value: bool) -> bool:
    return value


async def connection_aged_out(channel: grpc.aio.Channel) -> None:
    """Wait until the channel is connected, then until the service closes that connection."""
    await eventually(lambda: _done(channel.get_state() == grpc.ChannelConnectivity.READY))
    await asyncio.wait_for(channel.wait_for_state_change(grpc.ChannelConnectivity.READY), 30)


async def test_reporter_keeps_working_across_connection_age(apiserver: LocalAPIServer) -> None:
    aging = options(apiserver, max_connection_age_s=0.5, max_connection_age_grace_s=0.5)
    async with running(aging) as svc, open_channel(svc.address) as channel:
        held = {"aged": item("aged", ready=1)}
        reporter = Reporter(
            StatusClient.over(channel), "member-a", lambda: list(held.values()), heartbeat_s=0.2
        )
        async with reporting(reporter):
            assert ready_of(svc, "aged") == 1
            for ready in (2, 3):
                await connection_aged_out(channel)
                held["aged"] = item("aged", ready=ready)
                reporter.offer(held["aged"])
                await eventually(lambda r=ready: _done(ready_of(svc, "aged") == r))  # type: ignore[misc]
            assert reporter.epoch == svc.service.epoch
            assert reporter.metrics.syncs._value.get() == 1  # one session throughout


async def test_get_aggregate_of_unknown_and_malformed_resources(
    svc: RunningService, channel: grpc.aio.Channel
) -> None:
    client = StatusClient.over(channel, limits=Limits(attempts=1))
    await client.report([item("known", cluster="member-b")])
    reply = await client.get_aggregate(
        pb.ResourceRef(api_version="apps/v1", kind="Deployment", namespace=NAMESPACE, name="known")
    )
    assert [i.cluster for i in reply.items] == ["member-b"]
    unknown = pb.ResourceRef(
        api_version="apps/v1", kind="Deployment", namespace=NAMESPACE, name="nobody-reported"
    )
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await client.get_aggregate(unknown)
    assert failure.value.code() == grpc.StatusCode.NOT_FOUND
    for bad in (
        pb.ResourceRef(),
        pb.ResourceRef(api_version="apps/v1", kind="Deployment", namespace=NAMESPACE),
        pb.ResourceRef(api_version="apps/v1", kind="Deployment", name="Not_A_Name"),
        pb.ResourceRef(api_version="not a version", kind="Deployment", name="web"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await client.get_aggregate(bad)
        assert failure.value.code() == grpc.StatusCode.INVALID_ARGUMENT, bad


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA("statusagg-client-test-ca")


@pytest.fixture(scope="module")
def tls_files(ca: CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("client-tls")
    server = ca.issue("statusagg", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    member = ca.issue("member-a", spiffe("member-a"))
    for name, pem in (("server", server), ("member", member)):
        (folder / f"{name}.crt").write_bytes(pem.cert)
        (folder / f"{name}.key").write_bytes(pem.key)
    (folder / "ca.crt").write_bytes(ca.pem)
    return folder


async def test_mutual_tls(apiserver: LocalAPIServer, tls_files: Path) -> None:
    served = TLSFiles(tls_files / "server.crt", tls_files / "server.key", tls_files / "ca.crt")
    auth = AuthSettings(client_certificates=True, identity_source=IdentitySource.URI)
    async with running(options(apiserver, tls=served, auth=auth)) as svc:
        tls = TLS(
            ca=tls_files / "ca.crt", cert=tls_files / "member.crt", key=tls_files / "member.key"
        )
        async with open_channel(svc.address, tls) as channel:
            answer = await StatusClient.over(channel).report([item("mtls")])
            assert [r.outcome for r in answer.results] == [ACCEPTED]
        async with open_channel(svc.address, TLS(ca=tls_files / "ca.crt")) as channel:
            client = StatusClient.over(channel, limits=Limits(attempts=1))
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await client.report([item("mtls")])
            assert failure.value.code() in (
                grpc.StatusCode.UNAVAILABLE,  # the handshake fails without a client certificate
                grpc.StatusCode.UNAUTHENTICATED,
            )
    assert ready_of(svc, "mtls") == 1


async def test_token_over_tls(apiserver: LocalAPIServer, tls_files: Path) -> None:
    served = TLSFiles(tls_files / "server.crt", tls_files / "server.key")
    auth = AuthSettings(tokens={"token-of-a": "member-a"})
    async with (
        running(options(apiserver, tls=served, auth=auth)) as svc,
        open_channel(svc.address, TLS(ca=tls_files / "ca.crt")) as channel,
    ):
        answer = await StatusClient.over(channel, token="token-of-a").report([item("tok")])
        assert [r.outcome for r in answer.results] == [ACCEPTED]
        for token, code in (
            ("", grpc.StatusCode.UNAUTHENTICATED),
            ("wrong", grpc.StatusCode.UNAUTHENTICATED),
        ):
            client = StatusClient.over(channel, token=token, limits=Limits(attempts=1))
            with pytest.raises(grpc.aio.AioRpcError) as failure:
                await client.report([item("tok", ready=5)])
            assert failure.value.code() == code
        other = StatusClient.over(channel, token="token-of-a", limits=Limits(attempts=1))
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await other.sync("member-b", [item("tok", cluster="member-b")])
        assert failure.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert ready_of(svc, "tok") == 1


async def test_the_example_agent(svc: RunningService) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        *("--server", svc.address, "--cluster", "member-example", "--namespace", NAMESPACE),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    text = output.decode()
    assert process.returncode == 0, text
    assert f"synced 3 items, service epoch {svc.service.epoch}" in text
    assert f'member-example {NAMESPACE}/web: {{"replicas": 3' in text
    assert ready_of(svc, "web", "member-example") == 1
    assert ready_of(svc, "api", "member-example") == 3
    assert ready_of(svc, "worker", "member-example") is None


async def test_get_command_of_an_unknown_resource(svc: RunningService) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "aggregator.cli", "get", "--address", svc.address),
        *("apps/v1", "Deployment", f"{NAMESPACE}/nobody-reported"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1
    assert out == b""
    assert err.decode().startswith("statusagg get: NOT_FOUND: no member reported Deployment")
    assert "Traceback" not in err.decode()
