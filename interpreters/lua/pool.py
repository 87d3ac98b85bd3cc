"""Lua worker processes shared by every customization; each call runs under a hard deadline.

A script runs in a separate process so that no script can hold the caller: when an answer does
not arrive by the deadline (the script's time limit plus a grace period), the process is killed
and replaced. The instruction hook inside the worker ends ordinary runaway loops cleanly before
that; the kill covers what a hook cannot stop (message handlers that loop after the hook fired,
long C functions such as pathological patterns). One customization may occupy at most all
workers but one, so it cannot starve the others.
"""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import CustomizationLoadError, InterpreterError
from .protocol import MAX_RESULT_BYTES, FrameError, FrameTimeout, read_frame, write_frame

logger = logging.getLogger("statusagg.interpreters.lua")

_START_S = 30.0
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class _Process:
    """One worker process and the customizations it has loaded."""

    def __init__(self, address_space_mb: int) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "interpreters.lua.worker",
                "--parent",
                str(os.getpid()),
                "--address-space-mb",
                str(address_space_mb),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
            env=env,
        )
        assert self.popen.stdin is not None
        assert self.popen.stdout is not None
        self.stdin = self.popen.stdin.fileno()
        self.stdout = self.popen.stdout.fileno()
        self.loaded: set[str] = set()
        try:
            if read_frame(self.stdout, time.monotonic() + _START_S) != "ready":
                raise FrameError("the worker did not start")
        except FrameError:
            self.kill()
            raise

    def ask(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        write_frame(self.stdin, request)
        answer = read_frame(self.stdout, deadline, MAX_RESULT_BYTES + 2**20)
        if not isinstance(answer, dict):
            raise FrameError("the worker sent something other than an answer")
        return answer

    def kill(self) -> None:
        self.popen.kill()
        self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                stream.close()


class WorkerPool:
    """Up to ``size`` worker processes, started on demand and replaced when killed.

    ``on_kill`` is called with the customization key whenever a worker is killed."""

    def __init__(
        self,
        size: int = 2,
        *,
        grace_s: float = 0.5,
        wait_s: float = 30.0,
        address_space_mb: int = 2048,
        on_kill: Callable[[str], None] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("a worker pool needs at least one process")
        self.size = size
        self._grace_s = grace_s
        self._wait_s = wait_s
        self._address_space_mb = address_space_mb
        self.on_kill = on_kill
        self._cond = threading.Condition()
        self._idle: list[_Process] = []
        self._started = 0
        self._busy: collections.Counter[str] = collections.Counter()
        self._per_key = max(1, size - 1)
        self._closed = False
        self._running: set[subprocess.Popen[bytes]] = set()
        weakref.finalize(self, _kill_all, self._running)

    def call(
        self,
        key: str,
        scripts: list[dict[str, str]],
        request: dict[str, Any],
        timeout_s: float,
    ) -> Any:
        """Run one request for the customization ``key``; its scripts are sent when needed.

        Raises CustomizationLoadError when the scripts do not load, InterpreterError otherwise."""
        process = self._lease(key)
        healthy = False
        try:
            deadline = time.monotonic() + timeout_s + self._grace_s
            message = {**request, "key": key}
            if key not in process.loaded:
                message["scripts"] = scripts
            answer = process.ask(message, deadline)
            if answer.get("missing"):
                answer = process.ask({**message, "scripts": scripts}, deadline)
            healthy = True
        except FrameTimeout:
            reason = f"exceeded the time limit of {timeout_s:g}s; its worker process was stopped"
            error_type = CustomizationLoadError if request["op"] == "load" else InterpreterError
            raise error_type(f"Lua script {reason}") from None
        except (FrameError, OSError, ValueError) as error:
            raise InterpreterError(f"the Lua worker process failed: {error}") from None
        finally:
            self._release(key, process, healthy)
        for line in answer.get("logs", ()):
            logger.info("lua: %s", line)
        if answer.get("load"):
            raise CustomizationLoadError(str(answer.get("error")))
        process.loaded.add(key)
        if answer.get("ok"):
            return answer.get("result")
        raise InterpreterError(str(answer.get("error")))

    def close(self) -> None:
        """Stop every worker process; calls after this fail."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            self._cond.notify_all()
        for process in idle:
            self._running.discard(process.popen)
            process.kill()

    def _lease(self, key: str) -> _Process:
        deadline = time.monotonic() + self._wait_s
        with self._cond:
            while True:
                if self._closed:
                    raise InterpreterError("the Lua worker pool is closed")
                if self._busy[key] < self._per_key:
                    if self._idle:
                        self._busy[key] += 1
                        return self._idle.pop()
                    if self._started < self.size:
                        self._busy[key] += 1
                        self._started += 1
                        break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise InterpreterError(
                        f"no Lua worker became free within {self._wait_s:g}s "
                        f"({self.size} processes, all busy)"
                    )
                self._cond.wait(remaining)
        try:
            process = _Process(self._address_space_mb)
        except (OSError, FrameError) as error:
            with self._cond:
                self._busy[key] -= 1
                self._started -= 1
                self._cond.notify_all()
            raise InterpreterError(f"cannot start a Lua worker process: {error}") from error
        self._running.add(process.popen)
        return process

    def _release(self, key: str, process: _Process, healthy: bool) -> None:
        if not healthy:
            self._running.discard(process.popen)
            process.kill()
            if self.on_kill is not None:
                self.on_kill(key)
        with self._cond:
            self._busy[key] -= 1
            if not self._busy[key]:
                del self._busy[key]
            if healthy and not self._closed:
                self._idle.append(process)
            else:
                self._started -= 1
            self._cond.notify_all()
        if healthy and self._closed:
            process.kill()


def _kill_all(running: set[subprocess.Popen[bytes]]) -> None:
    for popen in list(running):
        if popen.poll() is None:
            popen.kill()
