"""A loopback TCP proxy whose faults the test switches on and off.

It forwards bytes unchanged (TLS and HTTP/2 pass through), so clients still verify the server's
certificate: the API server's covers 127.0.0.1 whatever the port. Faults:

- ``latency_s``: delay added to every chunk forwarded, in both directions;
- ``connect_latency_s``: delay before a new connection is opened upstream;
- ``drop()``: reset every live connection at once;
- ``refusing``: new connections are reset as soon as they are accepted;
- ``freeze()``: live connections stop forwarding (silence, not a reset) and new connections
  wait, unconnected, until ``release()``; ``drop()`` ends the frozen ones.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import yaml

_CHUNK = 64 * 1024


@dataclass
class ProxyCounters:
    accepted: int = 0
    refused: int = 0
    dropped: int = 0
    held: int = 0
    bytes_up: int = 0
    bytes_down: int = 0


@dataclass(eq=False)
class _Link:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    flowing: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    aborted: bool = False

    def abort(self) -> None:
        self.aborted = True
        for writer in (self.client, self.upstream):
            if writer is not None:
                writer.transport.abort()
        for task in self.tasks:
            task.cancel()


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_host``:``upstream_port``."""

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        latency_s: float = 0.0,
        connect_latency_s: float = 0.0,
    ) -> None:
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.latency_s = latency_s
        self.connect_latency_s = connect_latency_s
        self.refusing = False
        self.counters = ProxyCounters()
        self._links: set[_Link] = set()
        self._held: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._closed = False
        self._admit = asyncio.Event()
        self._admit.set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @classmethod
    def to(cls, address: str, **kwargs: float) -> FaultProxy:
        """A proxy for ``host:port`` or an ``https://host:port`` URL."""
        host, _, port = address.removeprefix("https://").removeprefix("http://").rpartition(":")
        return cls(host, int(port), **kwargs)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def live(self) -> int:
        """Connections being opened, forwarded or frozen."""
        return len(self._links)

    @property
    def waiting(self) -> int:
        """New connections held by ``freeze()`` and not yet released."""
        return len(self._held)

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        self._closed = True
        if self._server is not None:
            self._server.close()
        for link in list(self._held):
            link.abort()
        self.release()
        self.drop()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=10)
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def drop(self) -> int:
        """Reset every live connection (those held by ``freeze()`` excepted); return how many."""
        links = list(self._links)
        self._links.clear()
        for link in links:
            link.abort()
        self.counters.dropped += len(links)
        return len(links)

    def freeze(self) -> None:
        """Live connections go silent; new ones wait until ``release()``."""
        self._admit.clear()
        for link in self._links:
            link.flowing.clear()

    def release(self) -> None:
        """Let waiting and frozen connections through again."""
        self._admit.set()
        for link in self._links:
            link.flowing.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        assert handler is not None
        self._handlers.add(handler)
        handler.add_done_callback(self._handlers.discard)
        link = _Link(writer)
        if self.refusing or self._closed:
            self.counters.refused += 1
            link.abort()
            return
        if not self._admit.is_set():
            self.counters.held += 1
            self._held.add(link)
            try:
                await self._admit.wait()
            finally:
                self._held.discard(link)
        self._links.add(link)
        try:
            if self.connect_latency_s:
                await asyncio.sleep(self.connect_latency_s)
            if link.aborted or self._closed:
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.upstream_host, self.upstream_port
                )
            except OSError:
                return
            link.upstream = up_writer
            if link.aborted or self._closed:
                return
            self.counters.accepted += 1
            link.flowing.set()
            if not self._admit.is_set():
                link.flowing.clear()  # frozen while it was being opened
            link.tasks = [
                asyncio.create_task(self._pump(link, reader, up_writer, up=True)),
                asyncio.create_task(self._pump(link, up_reader, writer, up=False)),
            ]
            await asyncio.gather(*link.tasks, return_exceptions=True)
        finally:
            self._links.discard(link)
            link.abort()

    async def _pump(
        self,
        link: _Link,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        up: bool,
    ) -> None:
        try:
            while True:
                data = await source.read(_CHUNK)
                if not data:
                    break
                await link.flowing.wait()
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                sink.write(data)
                await sink.drain()
                if up:
                    self.counters.bytes_up += len(data)
                else:
                    self.counters.bytes_down += len(data)
            await link.flowing.wait()
            if sink.can_write_eof():
                sink.write_eof()  # half-close: the other direction may still be talking
        except (ConnectionError, OSError):
            link.abort()


def proxied_kubeconfig(kubeconfig: Path, proxy: FaultProxy, target: Path) -> Path:
    """Write a copy of ``kubeconfig`` whose server is ``proxy`` and return its path."""
    config = yaml.safe_load(kubeconfig.read_text())
    for cluster in config["clusters"]:
        cluster["cluster"]["server"] = f"https://{proxy.address}"
    target.write_text(yaml.safe_dump(config))
    return target
