"""The Authorization header of API requests, kept fresh as client-go keeps it.

A static token is sent as is; an ``auth-provider`` token is renewed by the official client when
it expires; a token file is re-read once a minute (projected service-account
tokens rotate); an exec credential plugin (client.authentication.k8s.io ExecCredential) runs
when there is no token yet, when its token reaches its ``expirationTimestamp``, or after the
API server answered 401.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import aiohttp

TOKEN_FILE_REFRESH_S = 60.0
EXEC_TIMEOUT_S = 60.0
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")


class CredentialError(aiohttp.ClientError):
    """Credentials could not be obtained (unreadable token file, failing exec plugin).

    A client-side failure like a refused connection: callers retry both alike.
    """


class Credentials(Protocol):
    """Where the Authorization header comes from."""

    async def header(self) -> str | None:
        """The header value, or None to send none."""
        ...

    def invalidate(self) -> None:
        """The API server answered 401: obtain fresh credentials before the next request."""
        ...


class StaticCredentials:
    """A fixed header (a kubeconfig ``token``, basic auth) or none."""

    def __init__(self, header: str | None) -> None:
        self._header = header

    async def header(self) -> str | None:
        return self._header

    def invalidate(self) -> None:
        """Nothing to refresh."""


class HookCredentials:
    """A kubeconfig ``auth-provider`` token, renewed by the official client's refresh hook
    (which runs it only when the token has expired), checked at most every ``refresh_s``."""

    def __init__(
        self,
        configuration: Any,
        *,
        refresh_s: float = TOKEN_FILE_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._configuration = configuration
        self._refresh_s = refresh_s
        self.clock = clock
        self._checked_at: float | None = None

    async def header(self) -> str | None:
        now = self.clock()
        if self._checked_at is None or now - self._checked_at >= self._refresh_s:
            hook = self._configuration.refresh_api_key_hook
            if hook is not None:
                await asyncio.to_thread(hook, self._configuration)
            self._checked_at = now
        return bearer_header(self._configuration)

    def invalidate(self) -> None:
        self._checked_at = None


def bearer_header(configuration: Any) -> str | None:
    """The Authorization header the official client's configuration holds, if any."""
    settings: dict[str, Any] = dict(configuration.auth_settings())
    for setting in settings.values():
        if setting.get("in") == "header" and setting.get("key") == "authorization":
            return str(setting["value"])
    return None


class TokenFileCredentials:
    """A bearer token read from a file, re-read every ``refresh_s`` and after a 401."""

    def __init__(
        self,
        path: Path,
        *,
        refresh_s: float = TOKEN_FILE_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._refresh_s = refresh_s
        self.clock = clock
        self._read_at: float | None = None
        self._token = ""

    async def header(self) -> str | None:
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self._refresh_s:
            try:
                token = self.path.read_text().strip()
            except OSError as exc:
                raise CredentialError(f"token file {self.path}: {exc.strerror}") from exc
            if not token:
                raise CredentialError(f"token file {self.path} is empty")
            self._token, self._read_at = token, now
        return f"Bearer {self._token}"

    def invalidate(self) -> None:
        self._read_at = None


class ExecCredentials:
    """A bearer token from an exec credential plugin, cached until it expires."""

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        base_dir: Path,
        cluster: Mapping[str, Any] | None = None,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_version = str(spec.get("apiVersion", ""))
        if self.api_version not in EXEC_API_VERSIONS:
            raise CredentialError(
                f"exec plugin apiVersion {self.api_version!r} is not one of "
                f"{', '.join(EXEC_API_VERSIONS)}"
            )
        command = spec.get("command")
        if not isinstance(command, str) or not command:
            raise CredentialError("exec plugin has no command")
        if "/" in command and not os.path.isabs(command):
            command = str(base_dir / command)  # relative to the kubeconfig, as in client-go
        self.argv = [command, *(str(arg) for arg in spec.get("args") or ())]
        self._env = {str(e["name"]): str(e["value"]) for e in spec.get("env") or ()}
        self._cluster = cluster if spec.get("provideClusterInfo") else None
        self.clock = wall_clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expiry: datetime | None = None
        self.runs = 0  # how often the plugin ran (for metrics and tests)

    def _valid(self) -> bool:
        return self._token is not None and (self._expiry is None or self.clock() < self._expiry)

    async def header(self) -> str | None:
        if not self._valid():
            async with self._lock:
                if not self._valid():
                    await self._run()
        return f"Bearer {self._token}"

    def invalidate(self) -> None:
        self._token = None

    def _exec_info(self) -> str:
        spec: dict[str, Any] = {"interactive": False}
        if self._cluster is not None:
            spec["cluster"] = dict(self._cluster)
        return json.dumps({"apiVersion": self.api_version, "kind": "ExecCredential", "spec": spec})

    async def _run(self) -> None:
        self.runs += 1
        name = self.argv[0]
        env = {**os.environ, **self._env, "KUBERNETES_EXEC_INFO": self._exec_info()}
        try:
            process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except OSError as exc:
            raise CredentialError(f"exec plugin {name}: {exc.strerror}") from exc
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), EXEC_TIMEOUT_S)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise CredentialError(
                f"exec plugin {name} gave no answer in {EXEC_TIMEOUT_S:g}s"
            ) from None
        if process.returncode != 0:
            detail = stderr.decode(errors="replace").strip()[:500]
            raise CredentialError(f"exec plugin {name} exited with {process.returncode}: {detail}")
        self._token, self._expiry = self._parse(stdout)

    def _parse(self, stdout: bytes) -> tuple[str, datetime | None]:
        name = self.argv[0]
        try:
            answer = json.loads(stdout)
        except ValueError as exc:
            raise CredentialError(f"exec plugin {name} printed no JSON: {exc}") from None
        if not isinstance(answer, dict) or answer.get("kind") != "ExecCredential":
            raise CredentialError(f"exec plugin {name} printed no ExecCredential")
        if answer.get("apiVersion") != self.api_version:
            raise CredentialError(
                f"exec plugin {name} answered {answer.get('apiVersion')!r}, "
                f"not {self.api_version!r}"
            )
        status = answer.get("status") or {}
        token = status.get("token")
        if not isinstance(token, str) or not token:
            if status.get("clientCertificateData"):
                raise CredentialError(
                    f"exec plugin {name} returned a client certificate; only tokens are supported"
                )
            raise CredentialError(f"exec plugin {name} returned no token")
        stamp = status.get("expirationTimestamp")
        if not stamp:
            return token, None
        try:
            expiry = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
        except ValueError:
            raise CredentialError(
                f"exec plugin {name}: bad expirationTimestamp {stamp!r}"
            ) from None
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)
        return token, expiry
