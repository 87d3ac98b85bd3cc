"""Frames between the service and its Lua worker processes: a 4-byte length, then JSON."""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

_HEADER = struct.Struct(">I")
MAX_RESULT_BYTES = 16 * 2**20
MAX_FRAME_BYTES = 256 * 2**20


class FrameError(Exception):
    """The peer closed the pipe, sent a frame over the limit, or missed the deadline."""


class FrameTimeout(FrameError):
    """No whole frame arrived before the deadline."""


def encode(message: Any, limit: int = MAX_FRAME_BYTES) -> bytes:
    """A frame of ``message``; FrameError when its JSON is over ``limit`` bytes."""
    body = json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode()
    if len(body) > limit:
        raise FrameError(f"is {len(body)} bytes, over the {limit / 2**20:g} MiB limit")
    return _HEADER.pack(len(body)) + body


def write_frame(fd: int, message: Any) -> None:
    write_encoded(fd, encode(message))


def write_encoded(fd: int, frame: bytes) -> None:
    data = memoryview(frame)
    while data:
        written = os.write(fd, data)
        data = data[written:]


def read_frame(fd: int, deadline: float | None = None, limit: int = MAX_FRAME_BYTES) -> Any:
    """The next message from ``fd``; waits at most until ``deadline`` (monotonic) when given."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    if size > limit:
        raise FrameError(f"a message of {size} bytes is over the {limit} limit")
    return json.loads(_read_exactly(fd, size, deadline))


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    missing = size
    while missing:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise FrameTimeout("no answer before the deadline")
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise FrameError("the pipe was closed")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)
