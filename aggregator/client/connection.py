"""Open a channel to the service: plaintext or TLS (with a client certificate for mTLS), and
the bearer token every call carries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import grpc

# the answers of GetAggregate and of a large Sync may exceed gRPC's 4 MiB default
MAX_RECEIVE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class TLS:
    """Server verification and, for mTLS, this client's certificate (PEM files).

    ``ca`` None trusts the system roots; ``server_name`` overrides the name checked on the
    server's certificate (when dialling an IP address)."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    server_name: str = ""

    def credentials(self) -> grpc.ChannelCredentials:
        ca, key, cert = (p.read_bytes() if p else None for p in (self.ca, self.key, self.cert))
        return grpc.ssl_channel_credentials(ca, key, cert)


def open_channel(target: str, tls: TLS | None = None) -> grpc.aio.Channel:
    """A channel to ``target`` (host:port); plaintext when ``tls`` is None.

    The channel reconnects by itself when the service closes a connection (a restart, or the
    server's maximum connection age), so one channel serves a process for its whole life."""
    options: list[tuple[str, str | int]] = [
        ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
    ]
    if tls is None:
        return grpc.aio.insecure_channel(target, options=options)
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    return grpc.aio.secure_channel(target, tls.credentials(), options=options)


def token_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """The metadata carrying ``token`` as a bearer token (none for an empty token)."""
    return (("authorization", f"Bearer {token}"),) if token else ()
