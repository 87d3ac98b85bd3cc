"""``statusagg serve`` without a kubeconfig starts a local kube-apiserver and stops it on every
kind of exit: SIGTERM, SIGINT, a failure after the start, and its own SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.devcluster import free_port
from tests.cli.processes import COMMAND, command_env, processes_mentioning


def wait_gone(text: str, within: float = 60.0) -> list[int]:
    """Wait until no process mentions ``text``; return those still there at the deadline."""
    deadline = time.monotonic() + within
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@contextlib.contextmanager
def serve(tmp_path: Path, *argv: str) -> Iterator[subprocess.Popen[str]]:
    """``statusagg serve --insecure`` without a kubeconfig, its temp dir in ``tmp_path``."""
    command = subprocess.Popen(
        [*COMMAND, "serve", "--insecure", "--metrics-listen", f"127.0.0.1:{free_port()}", *argv],
        env=command_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield command
    finally:
        command.kill()
        command.wait()
        for pid in processes_mentioning(str(tmp_path)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_for_line(command: subprocess.Popen[str], text: str) -> None:
    assert command.stderr is not None
    for line in command.stderr:
        if text in line:
            return
    raise AssertionError(f"serve exited with {command.wait()} before printing {text!r}")


def local_server(tmp_path: Path) -> list[int]:
    return processes_mentioning(f"--data-dir={tmp_path}/statusagg-serve-apiserver")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_local_apiserver(tmp_path: Path, sig: signal.Signals) -> None:
    with serve(tmp_path, "--listen", f"127.0.0.1:{free_port()}") as command:
        wait_for_line(command, "serving StatusAggregator on")
        assert len(local_server(tmp_path)) == 1
        command.send_signal(sig)
        assert command.wait(timeout=60) == 0
        assert local_server(tmp_path) == []


def test_a_failure_after_the_start_stops_the_local_apiserver(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with serve(tmp_path, "--listen", f"127.0.0.1:{port}") as command:
            wait_for_line(command, "started a local kube-apiserver")
            assert command.wait(timeout=60) != 0
            assert local_server(tmp_path) == []


def test_sigkill_of_serve_still_stops_the_local_apiserver(tmp_path: Path) -> None:
    with serve(tmp_path, "--listen", f"127.0.0.1:{free_port()}") as command:
        wait_for_line(command, "started a local kube-apiserver")
        assert len(local_server(tmp_path)) == 1
        command.kill()
        command.wait()
        assert wait_gone(f"--data-dir={tmp_path}/statusagg-serve-apiserver") == []


def test_sigterm_while_the_local_apiserver_starts(tmp_path: Path) -> None:
    with serve(tmp_path, "--listen", f"127.0.0.1:{free_port()}") as command:
        deadline = time.monotonic() + 60
        while not local_server(tmp_path):
            assert command.poll() is None, "serve exited before starting its kube-apiserver"
            assert time.monotonic() < deadline, "no kube-apiserver was started"
            time.sleep(0.01)
        command.terminate()
        command.wait(timeout=60)
        assert local_server(tmp_path) == []
