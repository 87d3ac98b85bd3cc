"""A thin raw-JSON asyncio client for the Kubernetes API and a list+watch cache on top of it."""

from aggregator.kube.client import ApiError, Conflict, Gone, KubeClient, NotFound
from aggregator.kube.config import ClusterAccess, load_cluster_access
from aggregator.kube.resources import ResourceType

__all__ = [
    "ApiError",
    "ClusterAccess",
    "Conflict",
    "Gone",
    "KubeClient",
    "NotFound",
    "ResourceType",
    "load_cluster_access",
]
