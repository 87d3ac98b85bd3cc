"""A Lua worker process: runs customization scripts for its parent, one call at a time.

Started by `WorkerPool` as ``python -m interpreters.lua.worker``; requests and answers are frames
on stdin and on the original stdout (`protocol`). The parent kills the process when an answer is
late, so nothing a script does (error handlers that loop, slow C functions) outlives its deadline.
The process dies with its parent and its address space is capped.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import resource
import signal
import sys
from collections import OrderedDict
from typing import Any

from ..errors import CustomizationLoadError, InterpreterError
from ..model import Operation
from .convert import lua_type_name, to_json_object
from .loader import Script
from .protocol import MAX_RESULT_BYTES, FrameError, encode, read_frame, write_encoded, write_frame
from .runtime import RuntimeBroken, SandboxedRuntime

_PR_SET_PDEATHSIG = 1
_MAX_RUNTIMES = 64
_MAX_LOG_LINES = 50
_MAX_LOG_LINE = 2048


def _die_with_parent(parent: int) -> None:
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _cap_address_space(megabytes: int) -> None:
    if megabytes > 0:
        limit = megabytes * 2**20
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


class _LogCollector(logging.Handler):
    """Keeps what scripts `print()` during one call, to hand back to the parent."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if len(self.lines) < _MAX_LOG_LINES:
            self.lines.append(record.getMessage()[:_MAX_LOG_LINE])


def _script(data: dict[str, Any]) -> Script:
    return Script(Operation(data["operation"]), data["code"], data["customization"], data["path"])


def _convert(operation: Operation) -> Any:
    if operation is Operation.HEALTH:
        return _boolean
    name = "AggregateStatus" if operation is Operation.AGGREGATE else "ReflectStatus"
    return lambda result: to_json_object(result, name)


def _boolean(result: Any) -> bool:
    if not isinstance(result, bool):
        raise InterpreterError(
            f"InterpretHealth must return a boolean, got {lua_type_name(result)}"
        )
    return result


class _Worker:
    def __init__(self) -> None:
        self.runtimes: OrderedDict[str, SandboxedRuntime] = OrderedDict()
        self.logs = _LogCollector()
        lua_log = logging.getLogger("statusagg.interpreters.lua")
        lua_log.addHandler(self.logs)
        lua_log.setLevel(logging.INFO)
        lua_log.propagate = False

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        self.logs.lines = []
        key = request["key"]
        runtime = self.runtimes.get(key)
        if runtime is None:
            scripts = request.get("scripts")
            if scripts is None:
                return {"missing": True}
            try:
                runtime = SandboxedRuntime(
                    {script.operation: script for script in map(_script, scripts)},
                    timeout_s=request["timeout"],
                    memory_bytes=request["memory"],
                )
            except CustomizationLoadError as error:
                return {"ok": False, "error": str(error), "load": True, "logs": self.logs.lines}
            self.runtimes[key] = runtime
            while len(self.runtimes) > _MAX_RUNTIMES:
                self.runtimes.popitem(last=False)
        self.runtimes.move_to_end(key)
        operation = request["op"]
        if operation == "load":
            return {"ok": True, "result": None, "logs": self.logs.lines}
        op = Operation(operation)
        try:
            result = runtime.call(op, tuple(request["args"]), _convert(op))
        except RuntimeBroken as error:
            del self.runtimes[key]
            return {"ok": False, "error": str(error), "logs": self.logs.lines}
        except InterpreterError as error:
            return {"ok": False, "error": str(error), "logs": self.logs.lines}
        return {"ok": True, "result": result, "logs": self.logs.lines}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--address-space-mb", type=int, default=0)
    args = parser.parse_args()
    _die_with_parent(args.parent)
    _cap_address_space(args.address_space_mb)
    frames_out = os.dup(1)
    os.dup2(2, 1)  # nothing but frames may reach the parent's pipe
    sys.stdout = sys.stderr
    worker = _Worker()
    write_frame(frames_out, "ready")
    while True:
        try:
            request = read_frame(0)
        except FrameError:
            return
        try:
            answer = worker.handle(request)
        except MemoryError:
            answer = {"ok": False, "error": "the Lua worker ran out of memory"}
            worker.runtimes.clear()
        try:
            frame = encode(answer, MAX_RESULT_BYTES)
        except (FrameError, ValueError) as error:
            frame = encode(
                {"ok": False, "error": f"the result {error}", "logs": answer.get("logs")}
            )
        del answer
        write_encoded(frames_out, frame)


if __name__ == "__main__":
    main()
