"""Build, start and stop the local kube-apiserver (with embedded etcd) from deploy/local-apiserver.

The server is a real kube-apiserver, not a mock: tests, benchmarks and the demo use it to prove
how the Kubernetes API behaves. There is no controller-manager, so there is no garbage collection,
no default ServiceAccount, and deleted namespaces stay Terminating forever.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

KUBERNETES_VERSION = "v1.36.4"
# installed from a wheel, the Go module is package data; in a checkout it is under deploy/
_PACKAGED_MODULE = Path(__file__).resolve().parent / "_localapiserver"
MODULE_DIR = (
    _PACKAGED_MODULE
    if _PACKAGED_MODULE.is_dir()
    else Path(__file__).resolve().parent.parent / "deploy" / "local-apiserver"
)
_SOURCES = ("go.mod", "go.sum", "main.go")
_PR_SET_PDEATHSIG = 1


def sample_deployment(
    name: str, namespace: str, replicas: int = 1, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """A minimal Deployment manifest for demos, benchmarks and tests."""
    labels = {"app": name}
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "main", "image": "busybox"}]},
            },
        },
    }


class DevClusterError(RuntimeError):
    """The local API server could not be built or started; the message says why."""


def cache_dir() -> Path:
    """Where built binaries are kept (outside git): $STATUSAGG_CACHE_DIR or ~/.cache/statusagg."""
    configured = os.environ.get("STATUSAGG_CACHE_DIR")
    base = Path(configured) if configured else Path.home() / ".cache" / "statusagg"
    return base / "local-apiserver"


def _go() -> str:
    go = shutil.which("go")
    if go is None:
        raise DevClusterError(
            "no Go toolchain on PATH: the local kube-apiserver is built from Go modules; "
            "install Go >= 1.26 (https://go.dev/dl/) and retry"
        )
    return go


def _source_key(module_dir: Path, go: str) -> str:
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update((module_dir / name).read_bytes())
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=False)
    digest.update(version.stdout.encode())
    return digest.hexdigest()[:16]


def binary_path(module_dir: Path = MODULE_DIR) -> Path:
    """The cached binary for the current sources and Go version (it may not exist yet)."""
    return cache_dir() / f"local-apiserver-{_source_key(module_dir, _go())}"


def build(module_dir: Path = MODULE_DIR, *, quiet: bool = False) -> Path:
    """Build the local API server unless a binary for these sources is cached; return its path."""
    go = _go()
    target = cache_dir() / f"local-apiserver-{_source_key(module_dir, go)}"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        minor = KUBERNETES_VERSION.split(".")[1]
        ldflags = " ".join(
            [
                "-s -w",
                f"-X k8s.io/component-base/version.gitVersion={KUBERNETES_VERSION}",
                "-X k8s.io/component-base/version.gitMajor=1",
                f"-X k8s.io/component-base/version.gitMinor={minor}",
            ]
        )
        partial = target.with_suffix(".partial")
        env = {
            **os.environ,
            "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-mod=readonly -buildvcs=false",
        }
        if not quiet:
            print(f"building the local kube-apiserver {KUBERNETES_VERSION} ...", file=sys.stderr)
        started = time.monotonic()
        result = subprocess.run(
            [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(partial), "."],
            cwd=module_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise DevClusterError(
                f"building the local kube-apiserver failed (go build exit {result.returncode}):\n"
                f"{result.stderr.strip()}"
            )
        partial.rename(target)
        if not quiet:
            elapsed = time.monotonic() - started
            print(f"built {target} in {elapsed:.0f}s", file=sys.stderr)
        return target


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for local servers in tests and demos)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _terminate_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent dies, however it dies (Linux only)."""
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class LocalAPIServer:
    """One kube-apiserver + etcd process on loopback, with all its state in ``data_dir``.

    Several can run side by side; each picks free ports. ``stop()`` then ``start()`` on the same
    data dir resumes the same cluster on the same port. With ``stop_with_parent`` the server gets
    SIGTERM when the thread that started it dies, even by SIGKILL (Linux).
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        port: int = 0,
        extra_args: tuple[str, ...] = (),
        binary: Path | None = None,
        stop_with_parent: bool = False,
    ) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="statusagg-apiserver-"))
        self.port = port
        self.extra_args = extra_args
        self._binary = binary
        self._stop_with_parent = stop_with_parent
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "apiserver.log"

    @property
    def server(self) -> str:
        return str(self._kubeconfig_cluster()["server"])

    @property
    def ca_file(self) -> str:
        return str(self._kubeconfig_cluster()["certificate-authority"])

    @property
    def token(self) -> str:
        return (self.data_dir / "admin-token").read_text().strip()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def _kubeconfig_cluster(self) -> dict[str, object]:
        config = yaml.safe_load(self.kubeconfig.read_text())
        cluster: dict[str, object] = config["clusters"][0]["cluster"]
        return cluster

    def start(self, timeout: float = 120.0) -> LocalAPIServer:
        """Start the server and wait until /readyz answers 200 over verified TLS."""
        if self.running:
            return self
        binary = self._binary or build()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.kubeconfig.unlink(missing_ok=True)  # left behind by a killed run; it means "ready"
        args = [str(binary), f"--data-dir={self.data_dir}", f"--port={self.port}"]
        if self.extra_args:
            args += ["--", *self.extra_args]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_terminate_with_parent if self._stop_with_parent else None,
            )
        deadline = time.monotonic() + timeout
        while not self.kubeconfig.exists():
            if self._process.poll() is not None:
                raise DevClusterError(self._exit_reason())
            if time.monotonic() > deadline:
                self.kill()
                raise DevClusterError(f"not ready after {timeout:.0f}s; log: {self.log_path}")
            time.sleep(0.05)
        self.port = int(self.server.rsplit(":", 1)[1])
        self._check_ready()
        return self

    def _exit_reason(self) -> str:
        tail = self.log_path.read_text(errors="replace").strip().splitlines()[-15:]
        text = "\n".join(tail)
        if "address already in use" in text or "already in use" in text:
            return f"port {self.port} on 127.0.0.1 is already in use:\n{text}"
        return f"the local kube-apiserver exited early; last log lines:\n{text}"

    def _check_ready(self) -> None:
        context = ssl.create_default_context(cafile=self.ca_file)
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, context=context, timeout=10) as response:
                if response.status != 200:
                    raise DevClusterError(f"/readyz answered {response.status}")
        except (urllib.error.URLError, ssl.SSLError) as exc:
            raise DevClusterError(f"{self.server}/readyz is unreachable: {exc}") from exc

    def wait(self) -> None:
        """Block until the server exits."""
        if self._process is not None:
            self._process.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait for a clean exit; SIGKILL after ``timeout``."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the whole process group (used by fault tests and on timeouts)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self, timeout: float = 120.0) -> LocalAPIServer:
        self.stop()
        return self.start(timeout)

    def cleanup(self) -> None:
        """Stop and remove the data dir if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> LocalAPIServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
