"""Credentials and TLS settings for one API server, from a kubeconfig or in-cluster config."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

_REFRESH_S = 60.0


@dataclass(frozen=True)
class ClusterAccess:
    """Where the API server is and how to authenticate to it."""

    server: str
    ssl_context: ssl.SSLContext | bool
    authorization: Callable[[], str | None]


def load_cluster_access(kubeconfig: str | os.PathLike[str] | None = None) -> ClusterAccess:
    """Load a kubeconfig (explicit path, $KUBECONFIG, ~/.kube/config) or the in-cluster config.

    The official client only parses the configuration (exec plugins, in-cluster token refresh);
    requests go through aiohttp with raw JSON.
    """
    configuration = k8s_client.Configuration()
    if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.fspath(kubeconfig) if kubeconfig else None,
            client_configuration=configuration,
            persist_config=False,
        )
    context: ssl.SSLContext | bool
    if configuration.verify_ssl:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file)
    else:
        context = False

    cached: list[tuple[float, str | None]] = []

    def authorization() -> str | None:
        """The Authorization header; refreshed (token files, exec plugins) at most once a
        minute rather than on every request."""
        now = time.monotonic()
        if cached and now - cached[0][0] < _REFRESH_S:
            return cached[0][1]
        hook = configuration.refresh_api_key_hook
        if hook is not None:
            hook(configuration)
        header = None
        settings: dict[str, Any] = dict(configuration.auth_settings())
        for setting in settings.values():
            if setting.get("in") == "header" and setting.get("key") == "authorization":
                header = str(setting["value"])
        cached[:] = [(now, header)]
        return header

    return ClusterAccess(
        server=str(configuration.host).rstrip("/"), ssl_context=context, authorization=authorization
    )
