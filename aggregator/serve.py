"""Run the service: Kubernetes client, pipeline, gRPC server, metrics/health HTTP, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2

from aggregator.auth import AuthSettings
from aggregator.grpc_api import SERVICE_NAME, build_server
from aggregator.httpserver import split_address, start_http
from aggregator.kube.client import KubeClient
from aggregator.kube.config import load_cluster_access
from aggregator.metrics import Metrics
from aggregator.service import AggregationService, ServiceSettings
from aggregator.shard.replica import Replica, ShardSettings
from interpreters import LuaSettings, Registry, build_registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TLSFiles:
    """Serving certificate and key; with a client CA, clients must present certificates."""

    cert: Path
    key: Path
    client_ca: Path | None = None

    def credentials(self) -> grpc.ServerCredentials:
        ca = self.client_ca.read_bytes() if self.client_ca else None
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=ca,
            require_client_auth=ca is not None,
        )


@dataclass
class ServeOptions:
    kubeconfig: Path | None = None
    listen: str = "127.0.0.1:7443"
    metrics_listen: str = "127.0.0.1:9090"
    customizations: Sequence[Path] = ()
    load_plugins: bool = True
    lua: LuaSettings = field(default_factory=LuaSettings)
    qps: float = 200.0
    burst: int = 400
    max_message_bytes: int = 16 * 1024 * 1024
    max_connection_age_s: float = 300.0  # clients reconnect, so they spread over replicas; 0: never
    max_connection_age_grace_s: float = 60.0
    reflection: bool = True
    shutdown_grace_s: float = 10.0
    tls: TLSFiles | None = None  # None: plaintext (development only)
    auth: AuthSettings = field(default_factory=AuthSettings)
    settings: ServiceSettings = field(default_factory=ServiceSettings)
    sharding: ShardSettings | None = None  # None: one replica owns every resource


@dataclass
class RunningService:
    service: AggregationService
    address: str  # host:port of the gRPC listener
    metrics_address: str
    replica: Replica | None = None


@contextlib.asynccontextmanager
async def running(options: ServeOptions) -> AsyncIterator[RunningService]:
    """Start everything; on exit stop accepting, flush within the grace period, close."""
    metrics = Metrics()
    registry = build_registry(
        options.customizations, load_plugins=options.load_plugins, lua=options.lua
    )
    if registry.lua_pool is not None:
        registry.lua_pool.on_kill = lambda _key: metrics.lua_worker_kills.inc()
    try:
        async with _running(options, registry, metrics) as running_service:
            yield running_service
    finally:
        registry.close()


@contextlib.asynccontextmanager
async def _running(
    options: ServeOptions, registry: Registry, metrics: Metrics
) -> AsyncIterator[RunningService]:
    access = load_cluster_access(options.kubeconfig)
    async with KubeClient(access, qps=options.qps, burst=options.burst, metrics=metrics) as client:
        replica = None
        if options.sharding is not None:
            replica = Replica(client, options.sharding, uuid.uuid4().hex, metrics)
        service = AggregationService(
            client,
            registry,
            options.settings,
            metrics,
            may_write=replica.may_write if replica is not None else None,
        )
        server, health_servicer = build_server(
            service,
            max_message_bytes=options.max_message_bytes,
            max_connection_age_s=options.max_connection_age_s,
            max_connection_age_grace_s=options.max_connection_age_grace_s,
            enable_reflection=options.reflection,
            auth=options.auth,
            router=replica.attach(service) if replica is not None else None,
        )
        host, port = split_address(options.listen)
        if options.tls is None:
            bound = server.add_insecure_port(f"{host}:{port}")
        else:
            bound = server.add_secure_port(f"{host}:{port}", options.tls.credentials())
        await service.start()
        if replica is not None:
            await replica.start()
        await server.start()
        for name in ("", SERVICE_NAME):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
        runner, metrics_address = await start_http(
            options.metrics_listen,
            metrics.registry,
            lambda: service.accepting and (replica is None or replica.ready()),
            before_scrape=lambda: _refresh_gauges(service, replica),
        )
        try:
            yield RunningService(service, f"{host}:{bound}", metrics_address, replica)
        finally:
            await health_servicer.enter_graceful_shutdown()
            service.accepting = False
            await server.stop(1.0)
            await service.stop(options.shutdown_grace_s)
            if replica is not None:
                await replica.stop()
            await runner.cleanup()


def _refresh_gauges(service: AggregationService, replica: Replica | None) -> None:
    service.metrics.write_war_objects.set(service.reconciler.wars.active())
    service.refresh_gauges()
    if replica is not None:
        replica.refresh_gauges()


async def serve_forever(options: ServeOptions) -> None:
    """Run until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if options.tls is None:
        log.warning(
            "INSECURE: gRPC is served in plaintext%s; use --tls-cert/--tls-key "
            "(and --client-ca) outside local development",
            "" if options.auth.enforced else " and any caller may report for any cluster",
        )
    async with running(options) as svc:
        log.info(
            "serving StatusAggregator on %s (gRPC), metrics and health on http://%s",
            svc.address,
            svc.metrics_address,
        )
        await stop.wait()
        log.info("shutting down: flushing pending writes (up to %.0fs)", options.shutdown_grace_s)
