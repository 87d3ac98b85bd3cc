"""Who is calling, and what they may do.

The identity comes from the client certificate (its common name or a URI SAN such as
``spiffe://statusagg/cluster/<name>``) with mutual TLS, or from the bearer token. An identity is
one of three kinds, never two: the peer identity (other replicas, which may only forward), a
reader identity (may read every cluster's items, may not report), or else a member cluster (may
report and read only its own items). Without authentication (``--insecure`` development mode)
calls are anonymous and may do everything.
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


class Role(enum.StrEnum):
    ANYONE = "anyone"  # authentication is off
    MEMBER = "member"
    PEER = "peer"
    READER = "reader"


@dataclass(frozen=True)
class Caller:
    identity: str  # empty for ANYONE
    role: Role

    @property
    def reads_everything(self) -> bool:
        return self.role is not Role.MEMBER


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
    reader_identities: frozenset[str] = frozenset()  # may read every cluster's items

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
            if name != "authorization" or not isinstance(value, str):
                continue
            scheme, _, presented = value.strip().partition(" ")
            if scheme.lower() != "bearer":  # RFC 7235: the scheme is case-insensitive
                continue
            presented = presented.strip()
            for token, cluster in self._tokens:
                if hmac.compare_digest(token, presented):
                    return cluster
        return None

    def identify(self, context: grpc.aio.ServicerContext) -> Caller:  # type: ignore[type-arg]
        """Who is calling. Raises AuthError (UNAUTHENTICATED) without a known identity."""
        if not self.settings.enforced:
            return Caller("", Role.ANYONE)
        identity = None
        if self.settings.client_certificates:
            identity = self._from_certificate(context)
        if identity is None and self._tokens:
            identity = self._from_token(context)
        if identity is None:
            raise AuthError(
                grpc.StatusCode.UNAUTHENTICATED,
                "no cluster identity: present a client certificate or a known bearer token",
            )
        if self.settings.peer_identity and identity == self.settings.peer_identity:
            return Caller(identity, Role.PEER)
        if identity in self.settings.reader_identities:
            return Caller(identity, Role.READER)
        return Caller(identity, Role.MEMBER)

    @staticmethod
    def authorize_report(caller: Caller, clusters: Sequence[str]) -> None:
        """Allow a Report or Sync only if every item belongs to the caller's own cluster."""
        if caller.role is Role.ANYONE:
            return
        if caller.role is not Role.MEMBER:
            raise AuthError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{caller.identity!r} is the {caller.role} identity, not a cluster: "
                "it may not report",
            )
        others = sorted({c for c in clusters if c != caller.identity})
        if others:
            raise AuthError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"cluster {caller.identity!r} may not report for "
                f"{', '.join(map(repr, others[:5]))}",
            )

    @staticmethod
    def authorize_forward(caller: Caller) -> None:
        """Allow a forwarded call only from another replica (any caller when not enforced)."""
        if caller.role not in (Role.ANYONE, Role.PEER):
            raise AuthError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"{caller.identity!r} may not forward items: only replicas (peer identity) may",
            )
