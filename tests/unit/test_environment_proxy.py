"""Without a proxy-url, the proxy comes from the environment as in client-go."""

from __future__ import annotations

import pytest

from aggregator.kube.config import environment_proxy


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "https_proxy", "http_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_https_proxy_for_https_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    assert environment_proxy("https://api.example.com:6443") == "http://proxy.corp:3128"
    assert environment_proxy("http://api.example.com:8080") is None


def test_no_proxy_and_loopback_go_direct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", ".example.com")
    assert environment_proxy("https://api.example.com:6443") is None
    assert environment_proxy("https://127.0.0.1:6443") is None
    assert environment_proxy("https://localhost:6443") is None


def test_nothing_set_goes_direct() -> None:
    assert environment_proxy("https://api.example.com:6443") is None
