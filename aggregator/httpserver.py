"""The plain-HTTP side port: ``/metrics``, ``/healthz`` and ``/readyz``; nothing writable."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


def split_address(listen: str) -> tuple[str, int]:
    """``host:port`` -> (host, port); an empty host means all interfaces."""
    host, _, port = listen.rpartition(":")
    return host or "0.0.0.0", int(port)


async def start_http(
    listen: str,
    registry: CollectorRegistry,
    ready: Callable[[], bool],
    *,
    before_scrape: Callable[[], None] = lambda: None,
) -> tuple[web.AppRunner, str]:
    """Serve metrics and health on ``listen``; return the runner and the bound ``host:port``."""

    async def metrics(_: web.Request) -> web.Response:
        before_scrape()
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if ready():
            return web.Response(text="ok")
        return web.Response(status=503, text="not ready")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    host, port = split_address(listen)
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0][1] if runner.addresses else port
    return runner, f"{host}:{bound}"
