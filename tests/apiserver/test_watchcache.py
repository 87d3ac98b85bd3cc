"""WatchCache against the real API server: events of versions it already holds are not decoded."""

from __future__ import annotations

from aggregator.devcluster import sample_deployment
from aggregator.kube import KubeClient
from aggregator.kube.client import Obj
from aggregator.kube.resources import DEPLOYMENTS
from aggregator.kube.watchcache import WatchCache, object_key, resource_version_of
from tests.helpers import eventually


async def test_own_write_is_skipped_and_other_changes_are_applied(
    kube: KubeClient, namespace: str
) -> None:
    changes: list[tuple[tuple[str, str], Obj | None]] = []
    cache = WatchCache(kube, DEPLOYMENTS, lambda k, o: changes.append((k, o)), namespace=namespace)
    await kube.create(DEPLOYMENTS, sample_deployment("web", namespace))
    await cache.start()
    try:
        key = (namespace, "web")
        # writes whose answers go into the cache, as the status writer does; the watch may
        # deliver a write's event before its answer is stored, so write until an answer wins
        stored = raced = 0
        for replicas in range(1, 21):
            cached = cache.get(key)
            assert cached is not None
            status = {"replicas": replicas}
            written = await kube.replace_status(DEPLOYMENTS, {**cached, "status": status})
            if cache.put(written):
                stored += 1
                break
            raced += 1
        assert stored == 1, "the watch delivered every write before its answer"
        own_rv = resource_version_of(written)

        async def passed_own_write() -> bool:
            return int(cache.last_resource_version or 0) >= own_rv

        await eventually(passed_own_write)
        assert cache.known_events == stored, "the stored write came back and was not decoded"
        assert len(changes) == 1 + raced, "the initial list and the writes the watch won"

        # another writer's change is newer than the cache: decoded, applied, notified
        live = await kube.get(DEPLOYMENTS, namespace, "web")
        other = await kube.replace_status(DEPLOYMENTS, {**live, "status": {"replicas": 50}})

        async def heard_other_writer() -> bool:
            return len(changes) == 2 + raced

        await eventually(heard_other_writer)
        obj = cache.get(key)
        assert obj is not None
        assert obj["status"] == {"replicas": 50}
        assert resource_version_of(obj) == resource_version_of(other)
        assert object_key(changes[-1][1] or {"metadata": {"name": "-"}}) == key
        assert cache.known_events == stored
    finally:
        await cache.stop()
