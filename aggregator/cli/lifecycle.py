"""A local kube-apiserver that lives exactly as long as the command that started it."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from aggregator.devcluster import LocalAPIServer


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextmanager
def local_apiserver(data_dir: Path, *, port: int = 0) -> Iterator[LocalAPIServer]:
    """Start a local kube-apiserver and stop it on any exit of the block.

    SIGTERM outside the event loop unwinds the block as Ctrl-C does; if this process dies
    without unwinding (SIGKILL), the kernel sends the server SIGTERM (Linux).
    """
    server = LocalAPIServer(data_dir, port=port, stop_with_parent=True)
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            signal.signal(signal.SIGTERM, previous)
