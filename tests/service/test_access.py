"""Who may report: mutual TLS, bearer tokens, plaintext clients, expired and foreign certs."""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.auth import AuthSettings, IdentitySource
from aggregator.devcluster import LocalAPIServer
from aggregator.serve import RunningService, ServeOptions, TLSFiles, running

NOW = datetime.datetime.now(datetime.UTC)


@dataclass
class Pem:
    cert: bytes
    key: bytes


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class CA:
    def __init__(self, name: str) -> None:
        self.key = _key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(hours=1))
            .not_valid_after(NOW + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, cn: str, sans: list[x509.GeneralName], *, expired: bool = False) -> Pem:
        key = _key()
        end = NOW - datetime.timedelta(minutes=5) if expired else NOW + datetime.timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - datetime.timedelta(hours=1))
            .not_valid_after(end)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        return Pem(cert.public_bytes(serialization.Encoding.PEM), _key_pem(key))


@pytest.fixture(scope="module")
def ca() -> CA:
    return CA("statusagg-test-ca")


@pytest.fixture(scope="module")
def server_files(ca: CA, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    pem = ca.issue("statusagg", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    folder = tmp_path_factory.mktemp("tls")
    (folder / "tls.crt").write_bytes(pem.cert)
    (folder / "tls.key").write_bytes(pem.key)
    (folder / "ca.crt").write_bytes(ca.pem)
    return folder / "tls.crt", folder / "tls.key", folder / "ca.crt"


def item(cluster: str) -> pb.MemberStatus:
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace="default", name="web"
        ),
        status_json=b'{"replicas": 1}',
        applied=True,
        sequence=1,
    )


def channel_to(address: str, creds: grpc.ChannelCredentials | None) -> grpc.aio.Channel:
    return grpc.aio.secure_channel(address, creds) if creds else grpc.aio.insecure_channel(address)


def bearer(token: str, scheme: str = "Bearer") -> tuple[tuple[str, str], ...]:
    return (("authorization", f"{scheme} {token}"),) if token else ()


async def call(
    address: str, creds: grpc.ChannelCredentials | None, cluster: str, token: str = ""
) -> pb.ReportResponse:
    channel = channel_to(address, creds)
    metadata = bearer(token)
    async with channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        reply: pb.ReportResponse = await stub.Report(
            pb.ReportRequest(items=[item(cluster)]), metadata=metadata, timeout=10
        )
        return reply


def rejected(svc: RunningService, code: str) -> float:
    value: float = svc.service.metrics.auth_rejected.labels(code=code)._value.get()
    return value


def serve_options(apiserver: LocalAPIServer, tls: TLSFiles, auth: AuthSettings) -> ServeOptions:
    return ServeOptions(
        kubeconfig=apiserver.kubeconfig,
        listen="127.0.0.1:0",
        metrics_listen="127.0.0.1:0",
        load_plugins=False,
        tls=tls,
        auth=auth,
    )


@pytest.fixture
async def mtls(
    apiserver: LocalAPIServer, server_files: tuple[Path, Path, Path]
) -> AsyncIterator[RunningService]:
    cert, key, client_ca = server_files
    auth = AuthSettings(client_certificates=True, identity_source=IdentitySource.URI)
    async with running(serve_options(apiserver, TLSFiles(cert, key, client_ca), auth)) as svc:
        yield svc


@pytest.fixture
async def tokens(
    apiserver: LocalAPIServer, server_files: tuple[Path, Path, Path]
) -> AsyncIterator[RunningService]:
    cert, key, _ = server_files
    auth = AuthSettings(
        tokens={
            "token-a": "member-a",
            "token-b": "member-b",
            "reader-token": "dashboard",
            "peer-token": "statusagg-peer",
        },
        peer_identity="statusagg-peer",
        reader_identities=frozenset({"dashboard"}),
    )
    async with running(serve_options(apiserver, TLSFiles(cert, key), auth)) as svc:
        yield svc


def spiffe(cluster: str) -> list[x509.GeneralName]:
    return [x509.UniformResourceIdentifier(f"spiffe://statusagg/cluster/{cluster}")]


async def test_client_certificate_names_the_cluster(ca: CA, mtls: RunningService) -> None:
    client = ca.issue("agent", spiffe("member-a"))
    creds = grpc.ssl_channel_credentials(ca.pem, client.key, client.cert)
    reply = await call(mtls.address, creds, "member-a")
    assert reply.results[0].outcome == pb.ItemResult.OUTCOME_ACCEPTED

    before = rejected(mtls, "PERMISSION_DENIED")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await call(mtls.address, creds, "member-b")
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "member-a" in (denied.value.details() or "")
    assert rejected(mtls, "PERMISSION_DENIED") == before + 1


@pytest.mark.parametrize("case", ["no client cert", "wrong CA", "expired", "plaintext"])
async def test_bad_clients_are_refused(ca: CA, mtls: RunningService, case: str) -> None:
    if case == "no client cert":
        creds: grpc.ChannelCredentials | None = grpc.ssl_channel_credentials(ca.pem)
    elif case == "wrong CA":
        stranger = CA("someone-else").issue("agent", spiffe("member-a"))
        creds = grpc.ssl_channel_credentials(ca.pem, stranger.key, stranger.cert)
    elif case == "expired":
        old = ca.issue("agent", spiffe("member-a"), expired=True)
        creds = grpc.ssl_channel_credentials(ca.pem, old.key, old.cert)
    else:
        creds = None
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(mtls.address, creds, "member-a")
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails
    assert len(mtls.service.store) == 0


async def test_certificate_without_a_cluster_name_is_unauthenticated(
    ca: CA, mtls: RunningService
) -> None:
    client = ca.issue("agent", [x509.DNSName("agent.example")])
    creds = grpc.ssl_channel_credentials(ca.pem, client.key, client.cert)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await call(mtls.address, creds, "member-a")
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert rejected(mtls, "UNAUTHENTICATED") == 1


async def test_tokens_map_to_clusters(ca: CA, tokens: RunningService) -> None:
    creds = grpc.ssl_channel_credentials(ca.pem)
    ok = await call(tokens.address, creds, "member-a", token="token-a")
    assert ok.results[0].outcome == pb.ItemResult.OUTCOME_ACCEPTED
    for token, code in (
        ("", grpc.StatusCode.UNAUTHENTICATED),
        ("nope", grpc.StatusCode.UNAUTHENTICATED),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call(tokens.address, creds, "member-a", token=token)
        assert refused.value.code() == code
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await call(tokens.address, creds, "member-b", token="token-a")
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert rejected(tokens, "UNAUTHENTICATED") == 2
    assert rejected(tokens, "PERMISSION_DENIED") == 1


WEB = pb.GetAggregateRequest(
    resource=pb.ResourceRef(
        api_version="apps/v1", kind="Deployment", namespace="default", name="web"
    )
)


async def test_members_read_only_their_own_items(ca: CA, tokens: RunningService) -> None:
    creds = grpc.ssl_channel_credentials(ca.pem)
    for token, cluster in (("token-a", "member-a"), ("token-b", "member-b")):
        reply = await call(tokens.address, creds, cluster, token=token)
        assert reply.results[0].outcome == pb.ItemResult.OUTCOME_ACCEPTED
    async with channel_to(tokens.address, creds) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        own = await stub.GetAggregate(WEB, metadata=bearer("token-a"), timeout=10)
        everything = await stub.GetAggregate(WEB, metadata=bearer("reader-token"), timeout=10)
    assert [i.cluster for i in own.items] == ["member-a"]
    assert not own.aggregated_status_json
    assert not own.HasField("last_write")
    assert [i.cluster for i in everything.items] == ["member-a", "member-b"]
    assert everything.HasField("last_write")


@pytest.mark.parametrize("token", ["peer-token", "reader-token"])
async def test_peer_and_reader_identities_are_not_clusters(
    ca: CA, tokens: RunningService, token: str
) -> None:
    creds = grpc.ssl_channel_credentials(ca.pem)
    identity = {"peer-token": "statusagg-peer", "reader-token": "dashboard"}[token]
    with pytest.raises(grpc.aio.AioRpcError) as report:
        await call(tokens.address, creds, identity, token=token)
    assert report.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not a cluster" in (report.value.details() or "")
    async with channel_to(tokens.address, creds) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as sync:
            await stub.Sync(
                pb.SyncRequest(cluster=identity, items=[item(identity)]),
                metadata=bearer(token),
                timeout=10,
            )
    assert sync.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert len(tokens.service.store) == 0


async def test_sync_authenticates_before_it_validates(ca: CA, tokens: RunningService) -> None:
    creds = grpc.ssl_channel_credentials(ca.pem)
    async with channel_to(tokens.address, creds) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.Sync(pb.SyncRequest(cluster=""), timeout=10)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as empty:
            await stub.Sync(pb.SyncRequest(cluster=""), metadata=bearer("token-a"), timeout=10)
        assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_bearer_scheme_is_case_insensitive(
    ca: CA, tokens: RunningService, scheme: str
) -> None:
    creds = grpc.ssl_channel_credentials(ca.pem)
    async with channel_to(tokens.address, creds) as channel:
        stub = pb_grpc.StatusAggregatorStub(channel)
        reply = await stub.Report(
            pb.ReportRequest(items=[item("member-a")]),
            metadata=bearer("token-a", scheme),
            timeout=10,
        )
    assert reply.results[0].outcome == pb.ItemResult.OUTCOME_ACCEPTED
