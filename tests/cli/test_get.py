"""``statusagg get`` reaches a real ``statusagg serve`` over mutual TLS and with a bearer token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cryptography import x509

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer, free_port
from tests.cli.processes import COMMAND, command_env
from tests.service.test_access import CA

SERVICE_NAME = "statusagg.statusagg.svc"  # the serving certificate names only this


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca = CA("statusagg-get-ca")
    folder = tmp_path_factory.mktemp("pki")
    (folder / "ca.crt").write_bytes(ca.pem)
    for name, pem in {
        "server": ca.issue("statusagg", [x509.DNSName(SERVICE_NAME)]),
        "member-a": ca.issue("member-a", [x509.DNSName("member-a")]),
        "dashboard": ca.issue("dashboard", [x509.DNSName("dashboard")]),
    }.items():
        (folder / f"{name}.crt").write_bytes(pem.cert)
        (folder / f"{name}.key").write_bytes(pem.key)
    (folder / "tokens.yaml").write_text("member-token: member-a\nreader-token: dashboard\n")
    (folder / "reader-token").write_text("reader-token\n")
    return folder


@contextlib.contextmanager
def serve(tmp_path: Path, apiserver: LocalAPIServer, *flags: str) -> Iterator[str]:
    """A ``statusagg serve`` process on the real API server; yields its gRPC address."""
    address = f"127.0.0.1:{free_port()}"
    command = subprocess.Popen(
        [
            *COMMAND,
            "serve",
            "--kubeconfig",
            str(apiserver.kubeconfig),
            "--listen",
            address,
            "--metrics-listen",
            f"127.0.0.1:{free_port()}",
            "--plugins=false",
            "--reader-identity",
            "dashboard",
            *flags,
        ],
        env=command_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert command.stderr is not None
        for line in command.stderr:
            if "serving StatusAggregator on" in line:
                break
        else:
            raise AssertionError(f"serve exited with {command.wait()}")
        yield address
    finally:
        command.terminate()
        command.wait(timeout=60)


async def report(address: str, credentials: grpc.ChannelCredentials, **call: object) -> None:
    options = [("grpc.ssl_target_name_override", SERVICE_NAME)]
    async with grpc.aio.secure_channel(address, credentials, options=options) as channel:
        item = pb.MemberStatus(
            cluster="member-a",
            resource=pb.ResourceRef(
                api_version="apps/v1", kind="Deployment", namespace="default", name="web"
            ),
            status_json=b'{"replicas": 2}',
            applied=True,
            sequence=1,
        )
        await pb_grpc.StatusAggregatorStub(channel).Report(
            pb.ReportRequest(items=[item]), timeout=10, **call
        )


async def get(tmp_path: Path, address: str, *flags: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *COMMAND,
        "get",
        "--address",
        address,
        *flags,
        "apps/v1",
        "Deployment",
        "default/web",
        env=command_env(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_get_over_mutual_tls(tmp_path: Path, apiserver: LocalAPIServer, pki: Path) -> None:
    tls = ("--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key"))
    with serve(tmp_path, apiserver, *tls, "--client-ca", str(pki / "ca.crt")) as address:
        member = grpc.ssl_channel_credentials(
            (pki / "ca.crt").read_bytes(),
            (pki / "member-a.key").read_bytes(),
            (pki / "member-a.crt").read_bytes(),
        )
        await report(address, member)
        reader = (
            *("--tls-ca", str(pki / "ca.crt"), "--tls-server-name", SERVICE_NAME),
            *("--tls-cert", str(pki / "dashboard.crt"), "--tls-key", str(pki / "dashboard.key")),
        )
        code, out, err = await get(tmp_path, address, *reader)
        assert code == 0, err
        answer = json.loads(out)
        assert [(i["cluster"], i["status"]) for i in answer["items"]] == [
            ("member-a", {"replicas": 2})
        ]

        # without a client certificate the handshake fails: one line, exit 1
        code, out, err = await get(
            tmp_path, address, "--tls-ca", str(pki / "ca.crt"), "--tls-server-name", SERVICE_NAME
        )
        assert (code, out) == (1, "")
        assert len(err.splitlines()) == 1
        assert err.startswith("statusagg get: UNAVAILABLE")

        # the certificate names the service, not the address it is dialled at
        code, _, err = await get(tmp_path, address, *reader[4:], "--tls-ca", str(pki / "ca.crt"))
        assert code == 1
        assert "UNAVAILABLE" in err


async def test_get_with_a_token_over_tls(
    tmp_path: Path, apiserver: LocalAPIServer, pki: Path
) -> None:
    tls = ("--tls-cert", str(pki / "server.crt"), "--tls-key", str(pki / "server.key"))
    with serve(tmp_path, apiserver, *tls, "--token-map", str(pki / "tokens.yaml")) as address:
        member = grpc.ssl_channel_credentials((pki / "ca.crt").read_bytes())
        await report(address, member, metadata=(("authorization", "Bearer member-token"),))
        trust = ("--tls-ca", str(pki / "ca.crt"), "--tls-server-name", SERVICE_NAME)
        code, out, err = await get(
            tmp_path, address, *trust, "--token-file", str(pki / "reader-token")
        )
        assert code == 0, err
        assert [i["cluster"] for i in json.loads(out)["items"]] == ["member-a"]

        code, out, err = await get(tmp_path, address, *trust)
        assert (code, out) == (1, "")
        assert err.startswith("statusagg get: UNAUTHENTICATED")
