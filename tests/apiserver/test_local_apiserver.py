"""The local kube-apiserver behaves like Kubernetes: the claims later parts rely on."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from aggregator import devcluster
from aggregator.devcluster import DevClusterError, LocalAPIServer, sample_deployment
from aggregator.kube import Conflict, KubeClient, load_cluster_access
from aggregator.kube.resources import DEPLOYMENTS, EVENTS


async def test_status_write_checks_resource_version(kube: KubeClient, namespace: str) -> None:
    created = await kube.create(DEPLOYMENTS, sample_deployment("web", namespace, replicas=2))
    stale = dict(created)

    fresh = {**created, "status": {"replicas": 2, "readyReplicas": 1}, "spec": {"replicas": 9}}
    written = await kube.replace_status(DEPLOYMENTS, fresh)
    assert written["status"]["readyReplicas"] == 1
    assert written["spec"]["replicas"] == 2, "a /status write must not change spec"
    assert int(written["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])

    with pytest.raises(Conflict) as conflict:
        await kube.replace_status(DEPLOYMENTS, {**stale, "status": {"replicas": 5}})
    assert conflict.value.status == 409
    live = await kube.get(DEPLOYMENTS, namespace, "web")
    assert live["status"]["replicas"] == 2


async def test_list_then_watch_sees_status_change_and_bookmarks(
    kube: KubeClient, namespace: str
) -> None:
    created = await kube.create(DEPLOYMENTS, sample_deployment("watched", namespace))
    listing = await kube.list(DEPLOYMENTS, namespace)
    list_rv = listing["metadata"]["resourceVersion"]
    assert [i["metadata"]["name"] for i in listing["items"]] == ["watched"]

    seen: list[tuple[str, dict]] = []

    async def consume() -> None:
        async for event in kube.watch(
            DEPLOYMENTS, list_rv, namespace=namespace, timeout_seconds=60, read_timeout_s=90
        ):
            seen.append((event["type"], event["object"]))
            if event["type"] == "MODIFIED":
                return

    watcher = asyncio.create_task(consume())
    await kube.replace_status(DEPLOYMENTS, {**created, "status": {"replicas": 7}})
    await asyncio.wait_for(watcher, timeout=30)
    assert seen[-1][0] == "MODIFIED"
    assert seen[-1][1]["status"]["replicas"] == 7


async def test_watch_with_bookmarks_receives_a_bookmark(kube: KubeClient, namespace: str) -> None:
    await kube.create(DEPLOYMENTS, sample_deployment("marked", namespace))
    listing = await kube.list(DEPLOYMENTS, namespace)
    bookmarks = [
        event["object"]
        async for event in kube.watch(
            DEPLOYMENTS,
            listing["metadata"]["resourceVersion"],
            namespace=namespace,
            timeout_seconds=3,
            read_timeout_s=30,
            send_initial_events=True,
        )
        if event["type"] == "BOOKMARK"
    ]
    assert bookmarks, "a watch with allowWatchBookmarks gets a bookmark after the initial events"
    marker = bookmarks[0]["metadata"]
    assert marker["annotations"]["k8s.io/initial-events-end"] == "true"
    assert int(marker["resourceVersion"]) >= int(listing["metadata"]["resourceVersion"])


async def test_event_on_object_version_reads_back(kube: KubeClient, namespace: str) -> None:
    created = await kube.create(DEPLOYMENTS, sample_deployment("evented", namespace))
    meta = created["metadata"]
    event = {
        "metadata": {"name": "evented.probe", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "namespace": namespace,
            "name": "evented",
            "uid": meta["uid"],
            "resourceVersion": meta["resourceVersion"],
        },
        "reason": "AggregateStatusSucceed",
        "message": "probe",
        "type": "Normal",
        "source": {"component": "statusagg"},
        "count": 1,
    }
    await kube.create(EVENTS, event)
    back = await kube.get(EVENTS, namespace, "evented.probe")
    assert back["involvedObject"]["resourceVersion"] == meta["resourceVersion"]
    assert back["involvedObject"]["uid"] == meta["uid"]
    assert back["reason"] == "AggregateStatusSucceed"


async def test_discovery_resolves_kinds(kube: KubeClient) -> None:
    rt = await kube.resource_type("apps/v1", "Deployment")
    assert rt == DEPLOYMENTS
    hpa = await kube.resource_type("autoscaling/v2", "HorizontalPodAutoscaler")
    assert hpa.plural == "horizontalpodautoscalers"


async def test_restart_keeps_data_and_two_instances_run_at_once(
    apiserver: LocalAPIServer, tmp_path: Path
) -> None:
    second = LocalAPIServer(tmp_path / "second")
    second.start()
    try:
        assert second.port != apiserver.port
        assert apiserver.running
        assert second.running
        async with KubeClient(load_cluster_access(second.kubeconfig), qps=0) as client:
            await client.create(DEPLOYMENTS, sample_deployment("durable", "default"))
        port = second.port
        second.stop()
        assert not second.running
        second.start()
        assert second.port == port, "a restart on the same data dir keeps the address"
        async with KubeClient(load_cluster_access(second.kubeconfig), qps=0) as client:
            back = await client.get(DEPLOYMENTS, "default", "durable")
        assert back["metadata"]["name"] == "durable"
    finally:
        second.cleanup()


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalAPIServer(tmp_path / "busy", port=port)
        with pytest.raises(DevClusterError, match=f"port {port} .*in use"):
            server.start(timeout=60)
        server.cleanup()


def test_missing_go_toolchain_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DevClusterError, match="no Go toolchain"):
        devcluster.build()


def test_build_failure_shows_the_go_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("go") is None:
        pytest.skip("needs a Go toolchain")
    module = tmp_path / "broken"
    module.mkdir()
    (module / "go.mod").write_text("module broken\n\ngo 1.22\n")
    (module / "go.sum").write_text("")
    (module / "main.go").write_text("package main\n\nfunc main() { undefinedCall() }\n")
    monkeypatch.setenv("STATUSAGG_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(DevClusterError, match="undefined: undefinedCall"):
        devcluster.build(module, quiet=True)
