"""Sharded replicas as local ``statusagg serve --shard`` processes (benchmarks, demos, tests)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from aggregator.devcluster import free_port


@dataclass
class ReplicaProcess:
    """One replica of ``group``, its Leases in ``namespace``, logging to ``log_path``."""

    replica_id: str
    kubeconfig: Path
    namespace: str
    group: str
    log_path: Path
    extra_args: Sequence[str] = ()
    lease_duration_s: int = 3
    port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            sys.executable, "-m", "aggregator.cli", "serve", "--insecure",
            "--kubeconfig", str(self.kubeconfig),
            "--listen", self.address,
            "--metrics-listen", f"127.0.0.1:{self.metrics_port}",
            "--plugins", "false",
            "--shard",
            "--replica-id", self.replica_id,
            "--lease-namespace", self.namespace,
            "--shard-group", self.group,
            "--lease-duration", str(self.lease_duration_s),
            "--lease-renew-interval", str(self.lease_duration_s / 6),
            "--lease-renew-deadline", str(self.lease_duration_s * 2 / 3),
            *self.extra_args,
        ]  # fmt: skip
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "POD_NAME": self.replica_id},
        )

    def kill(self) -> None:
        """SIGKILL: no flush, no Lease deletion."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGTERM (flush, leave the group); SIGKILL after 30 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    async def metrics_text(self) -> str | None:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{self.metrics_port}/metrics") as response,
            ):
                return await response.text()
        except aiohttp.ClientError:
            return None

    async def metric(self, name: str) -> float | None:
        """One sample (``name`` with its labels, as exposed), or None if absent or down."""
        text = await self.metrics_text()
        match = re.search(rf"^{re.escape(name)} (\S+)$", text or "", re.MULTILINE)
        return float(match.group(1)) if match else None
