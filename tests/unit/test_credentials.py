"""Exec plugin answers, auth-provider renewal: what becomes the Authorization header."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from aggregator.kube.credentials import CredentialError, ExecCredentials, HookCredentials

V1 = "client.authentication.k8s.io/v1"


def plugin(tmp_path: Path, answer: Any) -> ExecCredentials:
    """An exec plugin printing ``answer`` (a string as is, anything else as JSON)."""
    text = answer if isinstance(answer, str) else json.dumps(answer)
    (tmp_path / "answer").write_text(text)
    script = "import sys; sys.stdout.write(open(sys.argv[1]).read())"
    args = ["-c", script, str(tmp_path / "answer")]
    return ExecCredentials(
        {"apiVersion": V1, "command": sys.executable, "args": args}, base_dir=tmp_path
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("not json", "printed no JSON"),
        ({"apiVersion": V1, "kind": "Other"}, "no ExecCredential"),
        (
            {"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential"},
            "answered 'client.authentication.k8s.io/v1beta1'",
        ),
        ({"apiVersion": V1, "kind": "ExecCredential", "status": {}}, "returned no token"),
        (
            {
                "apiVersion": V1,
                "kind": "ExecCredential",
                "status": {"clientCertificateData": "x", "clientKeyData": "y"},
            },
            "only tokens are supported",
        ),
        (
            {
                "apiVersion": V1,
                "kind": "ExecCredential",
                "status": {"token": "t", "expirationTimestamp": "tomorrow"},
            },
            "bad expirationTimestamp",
        ),
    ],
)
async def test_bad_plugin_answers_are_clear_errors(
    tmp_path: Path, answer: Any, message: str
) -> None:
    with pytest.raises(CredentialError, match=message):
        await plugin(tmp_path, answer).header()


async def test_a_token_answer_is_a_bearer_header(tmp_path: Path) -> None:
    answer = {"apiVersion": V1, "kind": "ExecCredential", "status": {"token": "abc"}}
    assert await plugin(tmp_path, answer).header() == "Bearer abc"


def test_unknown_api_versions_and_missing_commands_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="apiVersion"):
        ExecCredentials({"apiVersion": "v0", "command": "x"}, base_dir=tmp_path)
    with pytest.raises(CredentialError, match="no command"):
        ExecCredentials({"apiVersion": V1}, base_dir=tmp_path)


def test_a_relative_command_path_is_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    credentials = ExecCredentials({"apiVersion": V1, "command": "./bin/login"}, base_dir=tmp_path)
    assert credentials.argv[0] == str(tmp_path / "bin" / "login")
    on_path = ExecCredentials({"apiVersion": V1, "command": "login"}, base_dir=tmp_path)
    assert on_path.argv[0] == "login"


class FakeConfiguration:
    """What HookCredentials uses of the official client's Configuration."""

    def __init__(self) -> None:
        self.renewals = 0
        self.refresh_api_key_hook = self._renew

    def _renew(self, configuration: Any) -> None:
        self.renewals += 1

    def auth_settings(self) -> dict[str, Any]:
        return {"BearerToken": {"in": "header", "key": "authorization", "value": "Bearer t"}}


async def test_auth_provider_tokens_are_checked_once_a_minute_and_after_a_401() -> None:
    configuration = FakeConfiguration()
    now = [0.0]
    credentials = HookCredentials(configuration, clock=lambda: now[0])
    assert await credentials.header() == "Bearer t"
    now[0] = 59.0
    await credentials.header()
    assert configuration.renewals == 1
    now[0] = 60.0
    await credentials.header()
    assert configuration.renewals == 2
    credentials.invalidate()
    await credentials.header()
    assert configuration.renewals == 3
