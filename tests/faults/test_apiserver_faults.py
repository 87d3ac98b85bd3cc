"""Faults between the service and the API server, injected by a loopback proxy the test drives:
latency, dropped and refused connections, frozen watches and 410 Gone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from aggregator.devcluster import LocalAPIServer
from aggregator.kube import Gone, KubeClient, load_cluster_access
from aggregator.kube.resources import DEPLOYMENTS
from tests.faults.conftest import Scale
from tests.faults.proxy import FaultProxy, proxied_kubeconfig
from tests.faults.report import FaultRecord
from tests.faults.workload import (
    Fleet,
    counter,
    create_templates,
    labelled_total,
    lost_updates,
    member_status,
    peaks_of,
    service_for,
    until,
    watching,
)
from tests.helpers import eventually


async def test_slow_and_dropping_api_server(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    tmp_path: Path,
    scale: Scale,
    fault: FaultRecord,
) -> None:
    fault.name = "API server slow, dropping and refusing connections"
    names = [f"app-{i:03d}" for i in range(scale.resources)]
    await create_templates(kube, namespace, names)
    fleet = Fleet(namespace, names)
    async with FaultProxy.to(apiserver.server, latency_s=0.02, connect_latency_s=0.05) as proxy:
        kubeconfig = proxied_kubeconfig(apiserver.kubeconfig, proxy, tmp_path / "kubeconfig")
        async with (
            watching(kube, namespace) as history,
            service_for(kubeconfig, min_write_interval_s=0.3) as (svc, stub),
            peaks_of(svc) as peaks,
        ):
            metrics = svc.service.metrics

            def writes() -> float:
                return counter(metrics.writes, mode="update", result="ok")

            for ready in range(1, scale.rounds + 1):
                before = writes()
                if ready % 4 == 3 and fault.figures.get("refusals", 0) < scale.refusals:
                    # the API server is unreachable: live connections reset, new ones refused
                    proxy.refusing = True
                    proxy.drop()
                    refused = proxy.counters.refused
                    await fleet.round(stub, ready)
                    await until(lambda r=refused: proxy.counters.refused > r)
                    proxy.refusing = False
                    fault.figures["refusals"] = int(fault.figures.get("refusals", 0)) + 1
                    fault.injected += 1
                    continue
                await fleet.round(stub, ready)
                if ready % 2 == 0 and fault.figures.get("drops", 0) < scale.drops:
                    proxy.drop()
                    fault.figures["drops"] = int(fault.figures.get("drops", 0)) + 1
                    fault.injected += 1
                # the next round waits until a quarter of this one is written
                await until(lambda b=before: writes() >= b + max(1, len(names) // 4))
            expected = {n: fleet.expected(n) for n in names}
            await fault.converge(lambda: lost_updates(kube, namespace, expected))

            written = writes()
            fault.figures.update(
                {
                    "items reported": fleet.items_sent,
                    "status writes": int(written),
                    "write errors": int(labelled_total(metrics.api_requests, code="error")),
                    "409s": int(counter(metrics.conflicts)),
                    "requeues": int(counter(metrics.retries)),
                    "connections reset": proxy.counters.dropped,
                    "connections refused": proxy.counters.refused,
                    "watch restarts": int(labelled_total(metrics.watch_restarts)),
                    "statuses stored": history.status_changes(),
                    "peak pending keys": peaks["pending keys"],
                    "peak queue heap": peaks["queue heap"],
                }
            )
        assert fault.injected >= scale.drops // 2 + 1
        assert sorted(history.by_name) == names
        # every written aggregate is newer than the one before it
        assert history.regressions() == []
        # no write repeated what was stored: each successful write changed the status
        assert written <= history.status_changes(), (written, history.status_changes())
        # the queue coalesced: far fewer writes than reported changes
        assert written * 3 <= fleet.items_sent, (written, fleet.items_sent)
        assert counter(metrics.keys_coalesced) > 0
        # memory is bounded by the number of resources, not by reports or faults
        assert peaks["pending keys"] <= len(names)
        assert peaks["key states"] <= len(names)
        assert peaks["member items"] <= len(names) * len(fleet.clusters)
        assert peaks["queue heap"] <= 2 * len(names), peaks


async def _watch_gone(kube: KubeClient, namespace: str, resource_version: str) -> bool:
    """Whether the API server answers a watch from ``resource_version`` with 410 Gone."""
    try:
        async for event in kube.watch(
            DEPLOYMENTS, resource_version, namespace=namespace, timeout_seconds=1
        ):
            return event["type"] == "ERROR" and event["object"].get("code") == 410
    except Gone:
        return True
    except aiohttp.ClientError:
        return False  # the server is still coming back
    return False


@pytest.mark.parametrize("cause", ["compaction", "restart"])
async def test_watch_cut_and_gone_relists(
    cause: str, tmp_path: Path, scale: Scale, fault: FaultRecord
) -> None:
    """The service's watch is cut, then frozen while another writer changes the templates and
    the server forgets that history (etcd compaction with the watch cache off, or a crash and
    restart that empties the watch cache): resuming gets 410 Gone; only a relist converges."""
    fault.name = f"watch cut, then 410 Gone ({cause})"
    extra: tuple[str, ...] = ()
    if cause == "compaction":
        extra = ("--watch-cache=false", "--etcd-compaction-interval=1s")
    server = LocalAPIServer(tmp_path / "apiserver", extra_args=extra)
    server.start()
    namespace = "gone"
    names = [f"app-{i:03d}" for i in range(scale.resources)]
    fleet = Fleet(namespace, names)
    try:
        async with (
            KubeClient(load_cluster_access(server.kubeconfig), qps=0) as kube,
            FaultProxy.to(server.server) as proxy,
        ):
            await create_templates(kube, namespace, names)
            kubeconfig = proxied_kubeconfig(server.kubeconfig, proxy, tmp_path / "kubeconfig")
            async with service_for(kubeconfig, events=False, watch_read_timeout_s=1.5) as (
                svc,
                stub,
            ):
                service = svc.service
                metrics = service.metrics

                def restarts(reason: str) -> float:
                    return counter(metrics.watch_restarts, reason=reason)

                async def converged() -> None:
                    expected = {n: fleet.expected(n) for n in names}
                    await fault.converge(lambda: lost_updates(kube, namespace, expected))

                await fleet.round(stub, 1)
                await converged()
                # cut: every connection, the watch included, is reset while reports flow
                for ready in range(2, 2 + max(1, scale.drops // 2)):
                    watches = labelled_total(metrics.api_requests, verb="watch")
                    proxy.drop()
                    fault.injected += 1
                    await fleet.round(stub, ready)
                    # the watch is back before the next cut
                    await until(
                        lambda w=watches: labelled_total(metrics.api_requests, verb="watch") > w
                    )
                await converged()
                fault.figures["cuts"] = fault.injected

                _, cache = await service.caches.resolve("apps/v1", "Deployment")
                for cycle in range(max(1, scale.restarts // 2)):
                    # freeze: the watch goes silent; another writer changes every status
                    await until(lambda: not service.queue.pending())
                    stale = cache.last_resource_version
                    gone = restarts("gone")
                    proxy.freeze()
                    for name in names:
                        live = await kube.get(DEPLOYMENTS, namespace, name)
                        drifted = {**live, "status": member_status(0)}
                        await kube.replace_status(DEPLOYMENTS, drifted)
                    if cause == "restart":
                        server.kill()  # a crash: the new process has an empty watch cache
                        await asyncio.to_thread(server.start)
                    await eventually(lambda s=stale: _watch_gone(kube, namespace, s))
                    fault.injected += 1
                    # the service's watch timed out and is resuming from ``stale``
                    await until(lambda: proxy.waiting > 0)
                    proxy.drop()
                    proxy.release()
                    await until(lambda g=gone: restarts("gone") > g)
                    await converged()
                    await fleet.round(stub, 100 + cycle)
                    await converged()
                assert restarts("connection") >= 1, "a cut broke a live watch, which resumed"
                fault.figures.update(
                    {
                        "410 Gone": int(restarts("gone")),
                        "resumes after cuts": int(restarts("connection")),
                        "relists after other errors": int(restarts("error")),
                        "read timeouts": int(restarts("read-timeout")),
                        "status writes": int(counter(metrics.writes, mode="update", result="ok")),
                    }
                )
    finally:
        server.cleanup()
