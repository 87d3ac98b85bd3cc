"""Hot-path benchmarks: `pytest tests/interpreters/test_bench_interpreters.py --benchmark-enable`.

With the suite's default `--benchmark-disable` each runs once as a plain test.
"""

from __future__ import annotations

import pytest

from interpreters import build_registry
from tests.interpreters.karmada_corpus import corpus_root

CORPUS = corpus_root()
CLONESET = CORPUS / "apps.kruise.io" / "v1alpha1" / "CloneSet" / "customizations.yaml"
MEMBERS = 100
GENERATIONS = {"generation": 3, "resourceTemplateGeneration": 3, "observedGeneration": 3}
LABELS = {"app": "web"}
CONTAINER = {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}


def template(api_version: str, kind: str) -> dict:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": "web",
            "namespace": "default",
            "generation": 3,
            "labels": {"app": "web"},
        },
        "spec": {
            "replicas": 2 * MEMBERS,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
                    ]
                },
            },
        },
        "status": {"observedGeneration": 2, "replicas": 1},
    }


def items(status: dict) -> list[dict]:
    return [
        {
            "clusterName": f"member-{index:03d}",
            "applied": True,
            "health": "Healthy",
            "status": dict(status),
        }
        for index in reversed(range(MEMBERS))
    ]


def test_aggregate_deployment_100_members(benchmark):
    registry = build_registry(load_plugins=False)
    member = {
        "replicas": 2,
        "readyReplicas": 2,
        "updatedReplicas": 2,
        "availableReplicas": 2,
        **GENERATIONS,
    }
    result = benchmark(registry.aggregate, template("apps/v1", "Deployment"), items(member))
    assert result["status"] == {
        "observedGeneration": 3,
        "replicas": 200,
        "readyReplicas": 200,
        "updatedReplicas": 200,
        "availableReplicas": 200,
    }


@pytest.mark.skipif(not CLONESET.is_file(), reason=f"Karmada corpus not found at {CORPUS}")
def test_aggregate_lua_cloneset_100_members(benchmark):
    registry = build_registry([CLONESET], load_plugins=False)
    member = {
        "replicas": 2,
        "readyReplicas": 2,
        "availableReplicas": 1,
        "updatedReplicas": 2,
        "updatedReadyReplicas": 2,
        "expectedUpdatedReplicas": 2,
        "updateRevision": "web-2",
        "currentRevision": "web-1",
        "labelSelector": "app=web",
        **GENERATIONS,
    }
    result = benchmark(
        registry.aggregate, template("apps.kruise.io/v1alpha1", "CloneSet"), items(member)
    )
    assert result["status"] == {
        "observedGeneration": 3,
        "replicas": 200,
        "readyReplicas": 200,
        "availableReplicas": 100,
        "updatedReplicas": 200,
        "updatedReadyReplicas": 200,
        "expectedUpdatedReplicas": 200,
        "updateRevision": "web-2",
        "currentRevision": "web-1",
        "labelSelector": "app=web",
    }
    assert all(
        type(value) is int
        for key, value in result["status"].items()
        if "Revision" not in key and key != "labelSelector"
    )
