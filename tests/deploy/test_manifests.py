"""The deployment manifests against the real API server: strict server-side dry-run creates.

The charts are rendered by `scripts/check-deploy --render` (every case it checks); the kustomize
base and the examples are read as they are. Each object goes into a fresh namespace.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregator.kube import ApiError, KubeClient, NotFound
from aggregator.kube.client import Conflict

ROOT = Path(__file__).resolve().parents[2]
# Kinds whose CRDs the local API server does not have.
NOT_INSTALLED = {"ServiceMonitor", "PrometheusRule"}
Obj = dict[str, Any]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    if shutil.which("go") is None:
        pytest.skip("no Go toolchain on PATH to build the helm client")
    target = tmp_path_factory.mktemp("rendered")
    result = subprocess.run(
        [str(ROOT / "scripts" / "check-deploy"), "--render", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    files = sorted(target.glob("*.yaml"))
    assert files
    return files


def load(*paths: Path) -> list[Obj]:
    return [o for path in paths for o in yaml.safe_load_all(path.read_text()) if o is not None]


def into(obj: Obj, namespace: str) -> Obj:
    """The object with its namespace, and its bindings' subjects', set to ``namespace``."""
    if "namespace" in obj["metadata"]:
        obj["metadata"]["namespace"] = namespace
    for subject in obj.get("subjects", []):
        if "namespace" in subject:
            subject["namespace"] = namespace
    return obj


async def dry_run_all(kube: KubeClient, objects: list[Obj], namespace: str) -> None:
    """Create every object with dryRun=All and strict field validation; fail listing errors."""
    errors = []
    for obj in objects:
        what = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            rt = await kube.resource_type(obj["apiVersion"], obj["kind"])
        except NotFound:
            assert obj["kind"] in NOT_INSTALLED, f"unknown kind {obj['kind']}"
            continue
        ns = namespace if rt.namespaced else None
        dry_run = {"dryRun": "All", "fieldValidation": "Strict"}
        try:
            try:
                await kube.request(
                    "POST",
                    rt.collection_path(ns),
                    verb="create",
                    params=dry_run,
                    body=into(obj, namespace),
                )
            except Conflict:
                # a cluster-scoped object other tests installed (a CRD): a dry-run replace
                # validates the manifest the same way
                current = await kube.get(rt, ns, obj["metadata"]["name"])
                obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                await kube.request(
                    "PUT",
                    rt.object_path(ns, obj["metadata"]["name"]),
                    verb="update",
                    params=dry_run,
                    body=obj,
                )
        except ApiError as error:
            errors.append(f"{what}: {error}")
    assert not errors, "\n".join(errors)


async def test_chart_renderings(rendered: list[Path], kube: KubeClient, namespace: str) -> None:
    await dry_run_all(kube, load(*rendered), namespace)


async def test_kustomize_base(kube: KubeClient, namespace: str) -> None:
    base = ROOT / "deploy" / "kustomize" / "base"
    resources = yaml.safe_load((base / "kustomization.yaml").read_text())["resources"]
    await dry_run_all(kube, load(*(base / r for r in resources)), namespace)


async def test_sidecar_example(kube: KubeClient, namespace: str) -> None:
    await dry_run_all(kube, load(ROOT / "deploy" / "examples" / "sidecar.yaml"), namespace)
