"""Minimal Work and ResourceBinding CRDs, installed so ``karmada_full`` can write their statuses
as Karmada's work-status and binding-status controllers do (schema-less, status subresource)."""

from __future__ import annotations

from typing import Any

from aggregator.kube.client import KubeClient
from aggregator.kube.crds import install_crd
from aggregator.kube.resources import ResourceType

GROUP = "work.karmada.io"


def _crd(kind: str, plural: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "x-kubernetes-preserve-unknown-fields": True,
                        }
                    },
                }
            ],
        },
    }


WORK_CRD = _crd("Work", "works", "v1alpha1")
BINDING_CRD = _crd("ResourceBinding", "resourcebindings", "v1alpha2")


async def install(client: KubeClient) -> tuple[ResourceType, ResourceType]:
    """Install both CRDs (kept if present); the Work and ResourceBinding types once served."""
    return await install_crd(client, WORK_CRD), await install_crd(client, BINDING_CRD)
