"""A real HTTPS interpreter webhook for tests: a CA made with ``cryptography``, an aiohttp
server on 127.0.0.1 whose paths answer Karmada ResourceInterpreterContext requests in
different ways (well, slowly, with garbage, too much), for AggregateStatus and for the member
operations InterpretStatus and InterpretHealth."""

from __future__ import annotations

import asyncio
import base64
import datetime
import ipaddress
import json
import ssl
import tempfile
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Authority:
    """A self-signed CA that signs a serving certificate for 127.0.0.1."""

    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes

    @property
    def ca_bundle(self) -> str:
        """The CA as a webhook clientConfig.caBundle (base64 PEM)."""
        return base64.b64encode(self.ca_pem).decode()


def make_authority(name: str = "test-ca") -> Authority:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return Authority(
        ca.public_bytes(serialization.Encoding.PEM),
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def summed_status(request: dict[str, Any]) -> dict[str, Any]:
    """The aggregate the ``/sum`` path answers: ``ready`` summed, clusters in order."""
    items = request["aggregatedStatus"] or []
    return {
        "ready": sum((item.get("status") or {}).get("ready", 0) for item in items),
        "clusters": [item["clusterName"] for item in items],
    }


def member_status(request: dict[str, Any]) -> dict[str, Any]:
    """The status the ``/member`` path reflects: the member object's ``ready``, renamed."""
    return {"webhookReady": (request["object"].get("status") or {}).get("ready")}


def member_healthy(request: dict[str, Any]) -> bool:
    """The health the ``/member`` path judges: the member object's phase is Running."""
    return bool((request["object"].get("status") or {}).get("phase") == "Running")


@dataclass
class WebhookServer:
    """Paths: ``/sum`` answers a JSON patch setting ``summed_status``; ``/member`` answers
    InterpretStatus with ``member_status``, InterpretHealth with ``member_healthy`` and
    AggregateStatus with no change (HTTP 503 while ``failing`` is set); ``/hang`` answers only
    once ``release`` is set; ``/garbage`` answers text; ``/huge`` answers ``huge_bytes``;
    ``/refuse`` answers successful=false."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    waiting: int = 0
    most_waiting: int = 0
    most_waiting_per_kind: Counter[str] = field(default_factory=Counter)
    _waiting_per_kind: Counter[str] = field(default_factory=Counter)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    huge_bytes: int = 5 * 1024 * 1024
    failing: bool = False

    async def handle(self, http: web.Request) -> web.StreamResponse:
        path = http.path
        self.calls[path] += 1
        context = await http.json()
        request = context["request"]
        self.requests.append(request)
        if path == "/garbage":
            return web.Response(text="<html>not a ResourceInterpreterContext</html>")
        if path == "/member" and self.failing:
            return web.Response(status=503, text="failing on purpose")
        if path == "/huge":
            return web.Response(body=b" " * self.huge_bytes, content_type="application/json")
        if path == "/hang":
            kind = request["kind"]["kind"]
            self.waiting += 1
            self._waiting_per_kind[kind] += 1
            self.most_waiting = max(self.most_waiting, self.waiting)
            self.most_waiting_per_kind[kind] = max(
                self.most_waiting_per_kind[kind], self._waiting_per_kind[kind]
            )
            try:
                await self.release.wait()
            finally:
                self.waiting -= 1
                self._waiting_per_kind[kind] -= 1
            return web.Response(status=503, text="released")
        response: dict[str, Any] = {"uid": request["uid"], "successful": True}
        if path == "/refuse":
            response = {
                "uid": request["uid"],
                "successful": False,
                "status": {"code": 400, "message": "refused on purpose"},
            }
        elif path == "/sum":
            patch = [{"op": "add", "path": "/status", "value": summed_status(request)}]
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
        elif path == "/member" and request["operation"] == "InterpretStatus":
            response["rawStatus"] = member_status(request)
        elif path == "/member" and request["operation"] == "InterpretHealth":
            response["healthy"] = member_healthy(request)
        return web.json_response(
            {
                "apiVersion": "config.karmada.io/v1alpha1",
                "kind": "ResourceInterpreterContext",
                "response": response,
            }
        )


@asynccontextmanager
async def webhook_server(authority: Authority) -> AsyncIterator[WebhookServer]:
    """Serve HTTPS on an ephemeral 127.0.0.1 port with ``authority``'s certificate."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory) / "tls.crt", Path(directory) / "tls.key"
        cert.write_bytes(authority.cert_pem)
        key.write_bytes(authority.key_pem)
        context.load_cert_chain(cert, key)
    server = WebhookServer(url="")
    app = web.Application()
    app.router.add_post("/{path:.*}", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"https://127.0.0.1:{port}"
    try:
        yield server
    finally:
        server.release.set()
        await runner.cleanup()
