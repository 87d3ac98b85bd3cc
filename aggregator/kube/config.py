"""Where one API server is and how to reach it, from a kubeconfig or the in-cluster config.

The official client parses the kubeconfig (contexts, merged $KUBECONFIG lists, CA and client
certificate data, ``insecure-skip-tls-verify``, ``tls-server-name``, ``proxy-url``); token files
and exec credential plugins are refreshed here as client-go refreshes them (see credentials).
"""

from __future__ import annotations

import os
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import SERVICE_TOKEN_FILENAME
from kubernetes.config.kube_config import (
    KUBE_CONFIG_DEFAULT_LOCATION,
    KubeConfigLoader,
    KubeConfigMerger,
)
from yaml import YAMLError

from aggregator.kube.credentials import (
    CredentialError,
    Credentials,
    ExecCredentials,
    HookCredentials,
    StaticCredentials,
    TokenFileCredentials,
    bearer_header,
)

_PROXY_SCHEMES = ("http", "https")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")


class KubeconfigError(ValueError):
    """A kubeconfig that is missing, unreadable or unusable; the message says which and why."""


@dataclass(frozen=True)
class ClusterAccess:
    """Where the API server is and how to authenticate to it."""

    server: str
    ssl_context: ssl.SSLContext | bool
    credentials: Credentials
    tls_server_name: str | None = None  # the name to verify instead of the server URL's host
    proxy: str | None = None  # the kubeconfig's proxy-url, else $HTTPS_PROXY and friends


def load_cluster_access(kubeconfig: str | os.PathLike[str] | None = None) -> ClusterAccess:
    """Load a kubeconfig (explicit path, $KUBECONFIG, ~/.kube/config) or the in-cluster config.

    Raises KubeconfigError with a one-line reason.
    """
    if kubeconfig is None and "KUBERNETES_SERVICE_HOST" in os.environ:
        configuration = k8s_client.Configuration()
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise KubeconfigError(f"in-cluster config: {exc}") from None
        return _access(configuration, TokenFileCredentials(Path(SERVICE_TOKEN_FILENAME)))
    paths = os.fspath(kubeconfig) if kubeconfig else KUBE_CONFIG_DEFAULT_LOCATION
    try:
        return _from_kubeconfig(str(paths))
    except (ConfigException, CredentialError, OSError, KeyError, TypeError, YAMLError) as exc:
        reason = " ".join(str(exc).split())  # YAML errors span lines
        raise KubeconfigError(f"kubeconfig {paths}: {reason}") from None


def _from_kubeconfig(paths: str) -> ClusterAccess:
    listed = [path for path in paths.split(os.pathsep) if path]
    if len(listed) == 1 and not os.access(os.path.expanduser(listed[0]), os.R_OK):
        # one file must exist; in a $KUBECONFIG list, as in kubectl, missing files are skipped
        raise KubeconfigError(f"kubeconfig {listed[0]}: no such file, or not readable")
    merger = KubeConfigMerger(paths)  # type: ignore[no-untyped-call]
    if merger.config is None:
        raise KubeconfigError(f"kubeconfig {paths}: no configuration found")
    loader = KubeConfigLoader(config_dict=merger.config, config_base_path=None)  # type: ignore[no-untyped-call]
    context = loader.current_context["context"]
    cluster = merger.config["clusters"].get_with_name(context["cluster"])
    user = (
        merger.config["users"].get_with_name(context["user"], safe=True)
        if context.get("user") and merger.config.safe_get("users")
        else None
    )
    auth: dict[str, Any] = dict(user.value.get("user") or {}) if user is not None else {}
    if user is not None:
        # token files and exec plugins are ours to refresh: the official loader reads them once
        user.value["user"] = {k: v for k, v in auth.items() if k not in ("exec", "tokenFile")}
        loader.set_active_context(loader.current_context["name"])  # type: ignore[no-untyped-call]
    configuration = k8s_client.Configuration()
    loader.load_and_set(configuration)  # type: ignore[no-untyped-call]
    base_dir = Path(user.path if user is not None else paths.split(os.pathsep)[0]).parent
    return _access(configuration, _credentials(configuration, auth, base_dir, cluster))


def _credentials(
    configuration: Any, auth: dict[str, Any], base_dir: Path, cluster: Any
) -> Credentials:
    if auth.get("exec"):
        cluster_info = dict(cluster.value.get("cluster") or {})
        return ExecCredentials(auth["exec"], base_dir=base_dir, cluster=cluster_info)
    if auth.get("auth-provider"):
        return HookCredentials(configuration)
    header = bearer_header(configuration)
    if header is None and auth.get("tokenFile"):
        return TokenFileCredentials(base_dir / os.path.expanduser(str(auth["tokenFile"])))
    return StaticCredentials(header)


def environment_proxy(server: str) -> str | None:
    """The proxy $HTTPS_PROXY or $HTTP_PROXY names for ``server``, unless $NO_PROXY exempts it;
    loopback is never proxied (as in Go's ProxyFromEnvironment)."""
    parts = urlsplit(server)
    host = parts.hostname or ""
    if host in _LOOPBACK or urllib.request.proxy_bypass(host):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _access(configuration: Any, credentials: Credentials) -> ClusterAccess:
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file)
    proxy = configuration.proxy or environment_proxy(str(configuration.host))
    if proxy is not None and urlsplit(proxy).scheme not in _PROXY_SCHEMES:
        raise KubeconfigError(
            f"proxy {proxy}: only {' and '.join(_PROXY_SCHEMES)} proxies are supported"
        )
    return ClusterAccess(
        server=str(configuration.host).rstrip("/"),
        ssl_context=context,
        credentials=credentials,
        tls_server_name=configuration.tls_server_name or None,
        proxy=proxy,
    )
