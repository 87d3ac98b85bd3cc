"""Faults between the service and the API server, injected by a loopback proxy the test drives:
latency, dropped and refused connections, frozen watches and 410 Gone."""

from __future__ import annotations

from pathlib import Path

from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from tests.faults.conftest import Scale
from tests.faults.proxy import FaultProxy, proxied_kubeconfig
from tests.faults.report import FaultRecord
from tests.faults.workload import (
    Fleet,
    counter,
    create_templates,
    labelled_total,
    lost_updates,
    peaks_of,
    service_for,
    until,
    watching,
)


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

            def requests() -> float:
                return labelled_total(metrics.api_requests)

            for ready in range(1, scale.rounds + 1):
                before = requests()
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
                # the next round waits for the service to be busy with this one
                await until(lambda b=before: requests() > b)
            expected = {n: fleet.expected(n) for n in names}
            await fault.converge(lambda: lost_updates(kube, namespace, expected))

            writes = counter(metrics.writes, mode="update", result="ok")
            fault.figures.update(
                {
                    "items reported": fleet.items_sent,
                    "status writes": int(writes),
                    "write errors": int(labelled_total(metrics.api_requests, code="error")),
                    "409s": int(counter(metrics.conflicts)),
                    "requeues": int(counter(metrics.retries)),
                    "connections reset": proxy.counters.dropped,
                    "connections refused": proxy.counters.refused,
                    "watch restarts": int(labelled_total(metrics.watch_restarts)),
                    "statuses stored": history.status_changes(),
                    "peak pending keys": peaks["pending keys"],
                }
            )
        assert fault.injected >= scale.drops // 2 + 1
        assert sorted(history.by_name) == names
        # every written aggregate is newer than the one before it
        assert history.regressions() == []
        # no write repeated what was stored: each successful write changed the status
        assert writes <= history.status_changes(), (writes, history.status_changes())
        # the queue coalesced: far fewer writes than reported changes
        assert writes * 3 <= fleet.items_sent, (writes, fleet.items_sent)
        assert counter(metrics.keys_coalesced) > 0
        # memory is bounded by the number of resources, not by reports or faults
        assert peaks["pending keys"] <= len(names)
        assert peaks["key states"] <= len(names)
        assert peaks["member items"] <= len(names) * len(fleet.clusters)
        assert peaks["queue heap"] <= 2 * len(names), peaks
