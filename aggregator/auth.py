"""Who is calling: the cluster identity of an agent, from its client certificate or its token.

An agent may report only for its own cluster. With mutual TLS the identity comes from the client
certificate (its common name or a URI SAN such as ``spiffe://statusagg/cluster/<name>``); with
a token map it comes from the bearer token. Without either (``--insecure`` development mode)
calls are anonymous and every cluster is allowed.
"""

from __future__ import annotations

import enum
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import yaml

DEFAULT_URI_PATTERN = r"^spiffe://[^/]+/cluster/(?P<cluster>[^/]+)$"


class IdentitySource(enum.StrEnum):
    CN = "cn"
    URI = "uri"


class AuthError(Exception):
    """The call is refused; ``code`` is UNAUTHENTICATED or PERMISSION_DENIED."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class AuthSettings:
    client_certificates: bool = False  # mTLS is on: the certificate names the cluster
    identity_source: IdentitySource = IdentitySource.CN
    identity_pattern: str = ""  # a regex with a named group "cluster"; empty: the whole value
    tokens: Mapping[str, str] = field(default_factory=dict)  # bearer token -> cluster
    peer_identity: str = ""  # the identity other replicas present when forwarding

    @property
    def enforced(self) -> bool:
        return self.client_certificates or bool(self.tokens)


def load_token_map(path: Path) -> dict[str, str]:
    """A YAML mapping of bearer token to cluster name."""
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ValueError(f"{path}: expected a YAML mapping of token to cluster name")
    return dict(data)


class Authenticator:
    """Maps a call to a cluster name and checks the items it carries."""

    def __init__(self, settings: AuthSettings) -> None:
        self.settings = settings
        pattern = settings.identity_pattern or (
            DEFAULT_URI_PATTERN if settings.identity_source is IdentitySource.URI else ""
        )
        self._pattern = re.compile(pattern) if pattern else None
        self._tokens = list(settings.tokens.items())

    def _from_certificate(self, context: grpc.aio.ServicerContext) -> str | None:  # type: ignore[type-arg]
        auth = context.auth_context()
        key = (
            "x509_common_name"
            if self.settings.identity_source is IdentitySource.CN
            else "x509_subject_alternative_name"
        )
        for raw in auth.get(key, []):
            value = raw.decode(errors="replace")
            if self._pattern is None:
                return value
            match = self._pattern.fullmatch(value)
            if match:
                return match.group("cluster")
        return None

    def _from_token(self, context: grpc.aio.ServicerContext) -> str | None:  # type: ignore[type-arg]
        for name, value in context.invocation_metadata() or ():
            if name == "authorization" and isinstance(value, str) and value.startswith("Bearer "):
                presented = value.removeprefix("Bearer ").strip()
                for token, cluster in self._tokens:
                    if hmac.compare_digest(token, presented):
                        return cluster
        return None

    def identify(self, context: grpc.aio.ServicerContext) -> str | None:  # type: ignore[type-arg]
        """The caller's cluster, or None when auth is not enforced. Raises AuthError."""
        if not self.settings.enforced:
            return None
        cluster = None
        if self.settings.client_certificates:
            cluster = self._from_certificate(context)
        if cluster is None and self._tokens:
            cluster = self._from_token(context)
        if cluster is None:
            raise AuthError(
                grpc.StatusCode.UNAUTHENTICATED,
                "no cluster identity: present a client certificate or a known bearer token",
            )
        return cluster

    def authorize(
        self,
        context: grpc.aio.ServicerContext,  # type: ignore[type-arg]
        clusters: Sequence[str],
    ) -> None:
        """Allow the call only if every item belongs to the caller's cluster."""
        caller = self.identify(context)
        if caller is None:
            return
        others = sorted({c for c in clusters if c != caller})
        if others:
            raise AuthError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"cluster {caller!r} may not report for {', '.join(map(repr, others[:5]))}",
            )

    def authorize_peer(self, context: grpc.aio.ServicerContext) -> None:  # type: ignore[type-arg]
        """Allow a forwarded call only from another replica (any caller when not enforced)."""
        caller = self.identify(context)
        if caller is None:
            return
        if not self.settings.peer_identity or caller != self.settings.peer_identity:
            raise AuthError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{caller!r} may not forward items: only replicas (peer identity) may",
            )
