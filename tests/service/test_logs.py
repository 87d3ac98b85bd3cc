"""``statusagg serve --log-format json`` as a real process: every line it logs is one object."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

from aggregator.devcluster import LocalAPIServer


def test_json_logs_are_one_object_per_line(apiserver: LocalAPIServer) -> None:
    command = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aggregator.cli",
            "serve",
            f"--kubeconfig={apiserver.kubeconfig}",
            "--listen=127.0.0.1:0",
            "--metrics-listen=127.0.0.1:0",
            "--insecure",
            "--plugins=false",
        ],
        env={**os.environ, "STATUSAGG_LOG_FORMAT": "json"},
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    try:
        assert command.stderr is not None
        for line in command.stderr:
            lines.append(line)
            if "serving StatusAggregator" in line:
                break
        else:
            raise AssertionError(f"serve exited with {command.wait()}: {''.join(lines)}")
        command.send_signal(signal.SIGTERM)
        _, rest = command.communicate(timeout=60)
        assert command.returncode == 0
    finally:
        command.kill()
        command.wait()
    lines += rest.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(records) >= 3
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    messages = [r["message"] for r in records]
    assert any(m.startswith("INSECURE: gRPC is served in plaintext") for m in messages)
    assert any(m.startswith("shutting down") for m in messages)
    assert {r["level"] for r in records} >= {"INFO", "WARNING"}


def test_an_unknown_log_format_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "serve", "--log-format=xml"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "'xml' is not one of text, json" in result.stderr
