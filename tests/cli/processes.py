"""Run the real ``statusagg`` command and find the processes it left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from aggregator.devcluster import cache_dir

COMMAND = [sys.executable, "-m", "aggregator.cli"]


def command_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of a command under test: no kubeconfig, no cluster, temp dir ``tmp_path``
    (where ``serve`` puts its local kube-apiserver), no STATUSAGG_* variables but ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STATUSAGG_") and k not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    env["STATUSAGG_CACHE_DIR"] = str(cache_dir().parent)  # the built kube-apiserver
    env["TMPDIR"] = str(tmp_path)
    env["HOME"] = str(tmp_path / "home")  # no ~/.kube/config
    return {**env, **extra}


def run(tmp_path: Path, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``statusagg ARGV`` to its end."""
    return subprocess.run(
        [*COMMAND, *argv],
        env=command_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def processes_mentioning(text: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``text``."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(proc.name))
    return found
