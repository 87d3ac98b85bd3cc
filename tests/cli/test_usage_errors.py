"""Every usage error of every subcommand: one line on stderr, exit code 2, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.processes import processes_mentioning, run

KUBECONFIG_GARBAGE = "clusters: [unclosed"

# (argv, environment, words the one-line message must contain)
CASES: list[tuple[tuple[str, ...], dict[str, str], tuple[str, ...]]] = [
    (("serve", "--insecure"), {"STATUSAGG_WORKERS": "abc"}, ("STATUSAGG_WORKERS", "abc")),
    (("serve", "--insecure", "--write-mode", "foo"), {}, ("--write-mode", "foo")),
    (("serve", "--insecure"), {"STATUSAGG_WRITE_MODE": "foo"}, ("STATUSAGG_WRITE_MODE",)),
    (("serve", "--insecure", "--plugins", "nope"), {}, ("--plugins", "nope")),
    (("serve", "--insecure", "--workers", "0"), {}, ("--workers", "0")),
    (("serve", "--insecure", "--kind-write-mode", "Deployment"), {}, ("KIND=MODE",)),
    (
        ("serve", "--insecure"),
        {"STATUSAGG_KIND_WRITE_MODE": "Deployment=apply,Job=fast"},
        ("STATUSAGG_KIND_WRITE_MODE", "fast"),
    ),
    (("serve", "--insecure", "--ignore-path", "spec.replicas"), {}, ("spec.replicas",)),
    (("serve", "--insecure"), {"STATUSAGG_IGNORE_PATH": "status..x"}, ("STATUSAGG_IGNORE_PATH",)),
    (("serve", "--insecure", "--kubeconfig", "{tmp}/missing"), {}, ("missing",)),
    (("serve", "--insecure", "--kubeconfig", "{tmp}"), {}, ("kubeconfig",)),
    (("serve", "--insecure", "--kubeconfig", "{tmp}/garbage"), {}, ("garbage",)),
    (("serve", "--insecure"), {"KUBECONFIG": "{tmp}/missing"}, ("missing",)),
    (("serve", "--tls-cert", "{tmp}/missing.crt"), {}, ("--tls-cert", "missing.crt")),
    (("serve", "--insecure", "--customization", "{tmp}/missing.yaml"), {}, ("missing.yaml",)),
    (("serve", "--insecure"), {"STATUSAGG_CUSTOMIZATION": "{tmp}/garbage"}, ("garbage",)),
    (("serve",), {}, ("--insecure",)),
    (("serve", "--insecure", "--listen", "7443"), {}, ("--listen", "HOST:PORT")),
    (("serve", "--insecure", "--identity-pattern", "("), {}, ("--identity-pattern",)),
    (("serve", "--insecure", "--log-level", "loud"), {}, ("--log-level",)),
    (("serve", "--insecure", "--bogus"), {}, ("--bogus",)),
    (("agent", "--insecure"), {}, ("--cluster",)),
    (("agent", "--insecure", "--cluster", "m1", "--kinds", "Deployment"), {}, ("--kinds",)),
    (("agent", "--insecure", "--cluster", "m1"), {"STATUSAGG_BATCH_SIZE": "-1"}, ("BATCH",)),
    (("agent", "--insecure", "--cluster", "m1", "--kubeconfig", "{tmp}/nope"), {}, ("nope",)),
    (("agent", "--insecure", "--cluster", "m1"), {}, ("~/.kube/config",)),
    (("serve", "--insecure"), {"KUBECONFIG": "{tmp}/a:{tmp}/b"}, ("no configuration",)),
    (("get", "--address", "nowhere", "apps/v1", "Deployment", "x"), {}, ("--address",)),
    (("get", "--tls-ca", "{tmp}/ca.pem", "apps/v1", "Deployment", "x"), {}, ("ca.pem",)),
    (("get", "apps/v1"), {}, ("required",)),
    (("demo", "--clusters", "0"), {}, ("--clusters",)),
    (("demo",), {"STATUSAGG_DURATION": "soon"}, ("STATUSAGG_DURATION",)),
    (("dev-apiserver", "--port", "abc"), {}, ("--port",)),
    (("bogus",), {}, ("bogus",)),
]


@pytest.mark.parametrize(("argv", "env", "words"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_usage_error_is_one_line_and_exit_2(
    tmp_path: Path, argv: tuple[str, ...], env: dict[str, str], words: tuple[str, ...]
) -> None:
    (tmp_path / "garbage").write_text(KUBECONFIG_GARBAGE)
    fill = {k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}
    result = run(tmp_path, *(a.replace("{tmp}", str(tmp_path)) for a in argv), **fill)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("statusagg"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "statusagg-serve-apiserver").exists(), "serve started something"
    assert processes_mentioning(str(tmp_path)) == []


def test_a_serve_variable_does_not_break_other_commands(tmp_path: Path) -> None:
    result = run(tmp_path, "interpret", "--list", STATUSAGG_WORKERS="abc")
    assert result.returncode == 0, result.stderr
    assert "Deployment" in result.stdout
