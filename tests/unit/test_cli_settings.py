"""``statusagg serve`` flags and their STATUSAGG_ environment variables reach the settings."""

from __future__ import annotations

import pytest

from aggregator.cli import build_parser
from aggregator.cli.serve import settings_from
from aggregator.service import ServiceSettings
from aggregator.writewar import WarSettings


def serve_settings(*argv: str) -> ServiceSettings:
    return settings_from(build_parser().parse_args(["serve", *argv]))


def test_write_war_and_retry_defaults() -> None:
    settings = serve_settings()
    assert settings.write_wars == WarSettings(overwrites=5, window_s=60.0, backoff_max_s=300.0)
    assert settings.max_backoff_s == 60.0


def test_write_war_flags_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATUSAGG_WRITE_WAR_WINDOW", "30")
    monkeypatch.setenv("STATUSAGG_RETRY_BACKOFF_MAX", "5")
    settings = serve_settings("--write-war-overwrites", "3", "--write-war-backoff-max", "20")
    assert settings.write_wars == WarSettings(overwrites=3, window_s=30.0, backoff_max_s=20.0)
    assert settings.max_backoff_s == 5.0
