"""``statusagg dev-apiserver`` as a real process: every way of stopping it stops its server."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_the_api_server_too(tmp_path: Path, sig: signal.Signals) -> None:
    command = subprocess.Popen(
        [sys.executable, "-m", "aggregator.cli", "dev-apiserver", "--data-dir", str(tmp_path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    servers: list[int] = []
    try:
        assert command.stderr is not None
        for line in command.stderr:
            if "kube-apiserver ready at" in line:
                break
        else:
            raise AssertionError(f"dev-apiserver exited with {command.wait()} before it was ready")
        servers = children(command.pid)
        assert len(servers) == 1
        command.send_signal(sig)
        assert command.wait(timeout=60) == 0
        assert not alive(servers[0]), "the kube-apiserver outlived its command"
    finally:
        command.kill()
        command.wait()
        for pid in servers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
