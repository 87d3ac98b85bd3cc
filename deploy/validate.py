"""Check the deployment artifacts under deploy/ (run by scripts/check-deploy).

Lints both Helm charts and renders them with their defaults and every `ci/*-values.yaml`; checks
each rendering (kinds, container arguments and that `statusagg` parses them, every file argument
on a mounted volume, probe ports), that values which must fail do (the values schema among
them), that the kustomize base is the service chart's default rendering, that the sidecar
example is a native sidecar on loopback, that the image's user is the charts' user and the image
carries the OCI labels, and that the PrometheusRule and the dashboard ConfigMap carry the files
under files/monitoring. The helm client is built once from the Go module proxy into the cache.
`--render DIR` also writes every rendering to DIR/<chart>-<case>.yaml.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import fcntl
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

HELM_VERSION = "v3.22.0"
ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
RELEASE = NAMESPACE = "statusagg"
HELM_LABELS = ("helm.sh/chart", "app.kubernetes.io/managed-by")
FILE_FLAGS = re.compile(
    r"^--(tls-cert|tls-key|client-ca|tls-ca|token-map|token-file|customization)=(/.+)$"
)
Obj = dict[str, Any]

SERVICE_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Service", "Deployment"}
# the Lease Role of sharded replicas
SHARD_KINDS = {"Role", "RoleBinding"}
AGENT_KINDS = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Deployment"}
SERVICE_TLS = [
    "--tls-cert=/etc/statusagg/tls/tls.crt",
    "--tls-key=/etc/statusagg/tls/tls.key",
    "--client-ca=/etc/statusagg/client-ca/ca.crt",
]


class CheckError(Exception):
    """A deployment artifact is wrong; the message says which and how."""


@dataclass
class Case:
    """One rendering of a chart: the kinds it must contain and arguments it must (not) have."""

    kinds: set[str]
    args: list[str]
    absent: list[str] = field(default_factory=list)
    replicas: int = 1
    image: str = "statusagg:0.1.0"


# chart -> case (the ci/<case>-values.yaml file, or "defaults") -> expectations
CASES: dict[str, dict[str, Case]] = {
    "statusagg": {
        "defaults": Case(
            SERVICE_KINDS,
            ["serve", "--listen=0.0.0.0:7443", "--metrics-listen=0.0.0.0:9090", *SERVICE_TLS],
            absent=[
                "--insecure",
                "--token-map",
                "--customization",
                "--cluster-identity",
                "--shard",
                "--live-customizations",
            ],
        ),
        "insecure": Case(
            SERVICE_KINDS,
            ["serve", "--listen=0.0.0.0:7443", "--insecure"],
            absent=["--tls-cert", "--tls-key", "--client-ca"],
        ),
        "full": Case(
            SERVICE_KINDS
            | SHARD_KINDS
            | {
                "ConfigMap",
                "ServiceMonitor",
                "PodDisruptionBudget",
                "CustomResourceDefinition",
                "PrometheusRule",
            },
            [
                *SERVICE_TLS,
                "--cluster-identity=uri",
                "--identity-pattern=^spiffe://fleet[.]example/cluster/(?P<cluster>[^/]+)$",
                "--token-map=/etc/statusagg/token-map/tokens.yaml",
                "--customization=/etc/statusagg/customizations/inline",
                "--customization=/etc/statusagg/customizations/platform-customizations",
                "--max-message-bytes=33554432",
                "--coalesce-delay=0.05",
                "--kind-write-mode=Deployment=apply",
                "--kind-write-mode=Job=update",
                "--events=false",
                "--shard",
                "--shard-group=statusagg",
                "--lease-duration=15",
                "--lease-renew-interval=3",
                "--lease-renew-deadline=10",
                "--peer-identity=statusagg-peer",
                "--peer-ca=/etc/statusagg/tls/ca.crt",
                "--peer-server-name=statusagg.statusagg.svc",
                "--peer-token-file=/etc/statusagg/peer-token/token",
            ],
            absent=["--insecure"],
            replicas=3,
            image="registry.example/statusagg:0.1.0-rc1",
        ),
        "plugins": Case(
            SERVICE_KINDS | {"NetworkPolicy"},
            ["serve", *SERVICE_TLS],
            absent=["--shard", "--insecure"],
            image=f"registry.example/statusagg@sha256:{'0123456789abcdef' * 4}",
        ),
    },
    "statusagg-agent": {
        "mtls": Case(
            AGENT_KINDS,
            [
                "agent",
                "--cluster=member-1",
                "--server=statusagg.example:7443",
                "--kinds=apps/v1/Deployment,apps/v1/StatefulSet,apps/v1/DaemonSet,batch/v1/Job,"
                "batch/v1/CronJob,v1/Service,networking.k8s.io/v1/Ingress",
                "--tls-ca=/etc/statusagg/tls/ca.crt",
                "--tls-cert=/etc/statusagg/tls/tls.crt",
                "--tls-key=/etc/statusagg/tls/tls.key",
                "--metrics-listen=0.0.0.0:9091",
            ],
            absent=["--insecure", "--token-file", "--selector"],
        ),
        "token": Case(
            AGENT_KINDS,
            [
                "--kinds=apps/v1/Deployment,v1/Service,example.io/v1alpha1/Widget",
                "--selector=propagated-by=karmada",
                "--tls-ca=/etc/statusagg/tls/ca.crt",
                "--token-file=/etc/statusagg/token/token",
                "--customization=/etc/statusagg/customizations/widget-customizations",
                "--batch-size=200",
                "--require-annotation=",
                "--log-level=debug",
            ],
            absent=["--tls-cert", "--tls-key", "--insecure"],
            image=f"registry.example/statusagg@sha256:{'fedcba9876543210' * 4}",
        ),
        "insecure": Case(
            AGENT_KINDS | {"ConfigMap"},
            [
                "--insecure",
                "--server=127.0.0.1:7443",
                "--customization=/etc/statusagg/customizations/inline",
            ],
            absent=["--tls-ca"],
        ),
    },
}

# chart -> (helm arguments, text the error must contain)
FAILURES: dict[str, list[tuple[list[str], str]]] = {
    "statusagg": [
        (["--set", "tls.enabled=false"], "set tls.enabled (with a Secret) or"),
        (["--set", "insecure=true"], "mutually exclusive"),
        (["--set", "replicas=abc"], "at '/replicas': got string, want integer"),
        (["--set", "replica=2"], "additional properties 'replica' not allowed"),
        (["--set", "image.digest=latest"], "at '/image/digest'"),
    ],
    "statusagg-agent": [
        ([], "cluster is required"),
        (["--set", "cluster=a"], "server is required"),
        (["--set", "cluster=a,server=b:1,kinds=null"], "kinds must list at least one kind"),
        (["--set", "cluster=a,server=b:1,kind=x"], "additional properties 'kind' not allowed"),
    ],
}


def cache_dir() -> Path:
    configured = os.environ.get("STATUSAGG_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "statusagg"


def helm_binary() -> Path:
    """The helm client, built by `go install` from the Go module proxy unless cached."""
    target = cache_dir() / "bin" / f"helm-{HELM_VERSION}" / "helm"
    if target.exists():
        return target
    go = shutil.which("go")
    if go is None:
        raise CheckError("no Go toolchain on PATH: the helm client is built from Go modules")
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        env = {
            **os.environ,
            "GOBIN": str(target.parent / "partial"),
            "CGO_ENABLED": "0",
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "-buildvcs=false",
        }
        ldflags = f"-s -w -X helm.sh/helm/v3/internal/version.version={HELM_VERSION}"
        print(f"building helm {HELM_VERSION} (once) ...", file=sys.stderr)
        started = time.monotonic()
        package = f"helm.sh/helm/v3/cmd/helm@{HELM_VERSION}"
        result = subprocess.run(
            [go, "install", "-trimpath", "-ldflags", ldflags, package],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise CheckError(f"building helm failed:\n{result.stderr.strip()}")
        (target.parent / "partial" / "helm").rename(target)
        (target.parent / "partial").rmdir()
        print(f"built {target} in {time.monotonic() - started:.0f}s", file=sys.stderr)
    return target


def helm(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, check=False)


def parse(text: str, where: str) -> list[Obj]:
    """The objects of a multi-document YAML text; each needs apiVersion, kind and a name."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise CheckError(f"{where}: not YAML: {error}") from error
    for document in documents:
        if not (
            isinstance(document, dict)
            and document.get("apiVersion")
            and document.get("kind")
            and document.get("metadata", {}).get("name")
        ):
            raise CheckError(f"{where}: not a Kubernetes object: {str(document)[:200]}")
    return documents


def containers(deployment: Obj) -> Iterator[Obj]:
    spec = deployment["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec.get("containers", [])


def check_pod(deployment: Obj, where: str) -> None:
    """Every file argument lies on a mounted volume; probes and volumes resolve."""
    spec = deployment["spec"]["template"]["spec"]
    volumes = {v["name"] for v in spec.get("volumes", [])}
    if len(volumes) != len(spec.get("volumes", [])):
        raise CheckError(f"{where}: duplicate volume names")
    for container in containers(deployment):
        name = f"{where}: container {container['name']}"
        mounts = container.get("volumeMounts", [])
        for mount in mounts:
            if mount["name"] not in volumes:
                raise CheckError(f"{name}: mount of the undeclared volume {mount['name']}")
        for arg in container.get("args", []):
            if not isinstance(arg, str):
                raise CheckError(f"{name}: argument {arg!r} is not a string")
            match = FILE_FLAGS.match(arg)
            if match and not any(
                (match.group(2) + "/").startswith(m["mountPath"].rstrip("/") + "/") for m in mounts
            ):
                raise CheckError(f"{name}: {arg} is not on a mounted volume")
        ports = {p.get("name") for p in container.get("ports", [])}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = container.get(probe, {}).get("httpGet", {}).get("port")
            if isinstance(port, str) and port not in ports:
                raise CheckError(f"{name}: {probe} uses the undeclared port {port}")


def the_deployment(objects: list[Obj], where: str) -> Obj:
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    if len(deployments) != 1:
        raise CheckError(f"{where}: expected one Deployment, found {len(deployments)}")
    return deployments[0]


def check_case(objects: list[Obj], case: Case, where: str) -> None:
    kinds = {o["kind"] for o in objects}
    if kinds != case.kinds:
        raise CheckError(f"{where}: kinds {sorted(kinds)}, expected {sorted(case.kinds)}")
    deployment = the_deployment(objects, where)
    check_pod(deployment, where)
    if deployment["spec"]["replicas"] != case.replicas:
        raise CheckError(f"{where}: {deployment['spec']['replicas']} replicas")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    if container["image"] != case.image:
        raise CheckError(f"{where}: image {container['image']}, expected {case.image}")
    args = container["args"]
    check_cli_accepts(args, where)
    for expected in case.args:
        if expected not in args:
            raise CheckError(f"{where}: argument {expected} missing from {args}")
    for prefix in case.absent:
        if any(a == prefix or a.startswith(prefix + "=") for a in args):
            raise CheckError(f"{where}: unexpected argument {prefix} in {args}")


def render_charts(binary: Path, render_dir: Path | None) -> dict[str, list[Obj]]:
    """Lint and render every case of both charts; return the objects per `<chart>-<case>`."""
    rendered: dict[str, list[Obj]] = {}
    for chart, cases in CASES.items():
        path = DEPLOY / "charts" / chart
        files = {
            p.name.removesuffix("-values.yaml"): p for p in (path / "ci").glob("*-values.yaml")
        }
        missing = set(files) - set(cases)
        if missing:
            raise CheckError(f"{chart}: ci values without expectations in {__file__}: {missing}")
        for name, case in cases.items():
            values = ["-f", str(files[name])] if name in files else []
            where = f"{chart} ({name})"
            lint = helm(binary, "lint", "--strict", "--quiet", str(path), *values)
            if lint.returncode != 0:
                raise CheckError(f"{where}: helm lint failed:\n{lint.stdout}{lint.stderr}")
            out = helm(binary, "template", RELEASE, str(path), "-n", NAMESPACE, *values)
            if out.returncode != 0:
                raise CheckError(f"{where}: helm template failed:\n{out.stderr}")
            objects = parse(out.stdout, where)
            check_case(objects, case, where)
            rendered[f"{chart}-{name}"] = objects
            if render_dir is not None:
                (render_dir / f"{chart}-{name}.yaml").write_text(out.stdout)
        for args, message in FAILURES[chart]:
            out = helm(binary, "template", RELEASE, str(path), *args)
            if out.returncode == 0 or message not in out.stderr:
                raise CheckError(
                    f"{chart} {args}: expected a failure saying {message!r}, got: {out.stderr}"
                )
    return rendered


def without_helm_labels(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: {lk: lv for lk, lv in v.items() if lk not in HELM_LABELS}
            if k == "labels"
            else without_helm_labels(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [without_helm_labels(v) for v in value]
    return value


def check_kustomize_base(chart_defaults: list[Obj]) -> None:
    base = DEPLOY / "kustomize" / "base"
    kustomization = yaml.safe_load((base / "kustomization.yaml").read_text())
    if kustomization.get("namespace") != NAMESPACE:
        raise CheckError(f"kustomize base: namespace must be {NAMESPACE}")
    objects = [
        o
        for resource in kustomization["resources"]
        for o in parse((base / resource).read_text(), f"kustomize base {resource}")
    ]

    def index(items: list[Obj]) -> dict[tuple[str, str], Obj]:
        return {(o["kind"], o["metadata"]["name"]): without_helm_labels(o) for o in items}

    ours, chart = index(objects), index(chart_defaults)
    if ours.keys() != chart.keys():
        raise CheckError(f"kustomize base has {sorted(ours)}, the chart's defaults {sorted(chart)}")
    for key, obj in ours.items():
        if obj != chart[key]:
            diff = difflib.unified_diff(
                yaml.safe_dump(chart[key]).splitlines(),
                yaml.safe_dump(obj).splitlines(),
                "chart",
                "kustomize base",
                lineterm="",
            )
            raise CheckError(
                f"kustomize base: {key[0]} {key[1]} differs from the chart's default rendering "
                f"(helm template {RELEASE} deploy/charts/statusagg -n {NAMESPACE}):\n"
                + "\n".join(diff)
            )


def check_sidecar_example() -> None:
    where = "examples/sidecar.yaml"
    objects = parse((DEPLOY / "examples" / "sidecar.yaml").read_text(), where)
    kinds = {o["kind"] for o in objects}
    if kinds != AGENT_KINDS:
        raise CheckError(f"{where}: kinds {sorted(kinds)}, expected {sorted(AGENT_KINDS)}")
    deployment = the_deployment(objects, where)
    check_pod(deployment, where)
    spec = deployment["spec"]["template"]["spec"]
    sidecars = [
        c
        for c in spec.get("initContainers", [])
        if c.get("restartPolicy") == "Always" and c.get("args", [None])[0] == "serve"
    ]
    if len(sidecars) != 1:
        raise CheckError(f"{where}: no statusagg init container with restartPolicy: Always")
    args = sidecars[0]["args"]
    check_cli_accepts(args, where)
    listen = next((a.split("=", 1)[1] for a in args if a.startswith("--listen=")), "")
    if not listen.startswith("127.0.0.1:"):
        raise CheckError(f"{where}: statusagg must listen on loopback, not {listen!r}")
    metrics = next((a.split("=", 1)[1] for a in args if a.startswith("--metrics-listen=")), "")
    if not metrics.startswith("0.0.0.0:"):
        raise CheckError(f"{where}: kubelet probes need metrics on the pod IP, not {metrics!r}")
    if not any(listen in " ".join(c.get("args", [])) for c in spec["containers"]):
        raise CheckError(f"{where}: no container talks to statusagg on {listen}")


def check_cli_accepts(args: list[str], where: str) -> None:
    """The statusagg command line parses the container's arguments (nothing is run)."""
    from aggregator import cli
    from aggregator.cli import agent, serve

    parsed: list[Any] = []
    with (
        mock.patch.object(serve, "run", parsed.append),
        mock.patch.object(agent, "run", parsed.append),
        contextlib.redirect_stderr(io.StringIO()) as errors,
    ):
        try:
            cli.main(args)
        except SystemExit:
            raise CheckError(f"{where}: statusagg rejects {args}:\n{errors.getvalue()}") from None
    if len(parsed) != 1:
        raise CheckError(f"{where}: {args} is neither `serve` nor `agent`")


def check_image_user(rendered: dict[str, list[Obj]]) -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    final = dockerfile.rsplit("\nFROM ", 1)[1]
    user = re.search(r"^USER (\d+)", final, re.MULTILINE)
    if user is None or user.group(1) == "0":
        raise CheckError("Dockerfile: the final stage needs a numeric non-root USER")
    for name, objects in rendered.items():
        pod = the_deployment(objects, name)["spec"]["template"]["spec"]
        if str(pod["securityContext"].get("runAsUser")) != user.group(1):
            raise CheckError(f"{name}: runAsUser differs from the Dockerfile's USER {user[1]}")


OCI_LABELS = ("title", "description", "licenses", "source", "version", "revision", "created")


def check_image_labels() -> None:
    """The final stage carries the OCI annotations, the base image's name among them."""
    final = (DEPLOY / "Dockerfile").read_text().rsplit("\nFROM ", 1)[1]
    for name in (*OCI_LABELS, "base.name"):
        if f"org.opencontainers.image.{name}=" not in final:
            raise CheckError(f"Dockerfile: the final stage has no org.opencontainers.image.{name}")


def check_monitoring(objects: list[Obj], where: str) -> None:
    """The PrometheusRule and the dashboard ConfigMap carry the files under files/monitoring."""
    files = DEPLOY / "charts" / "statusagg" / "files" / "monitoring"
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    if [r["spec"] for r in rules] != [yaml.safe_load((files / "alerts.yaml").read_text())]:
        raise CheckError(f"{where}: the PrometheusRule is not files/monitoring/alerts.yaml")
    dashboards = [
        o["data"]["statusagg.json"]
        for o in objects
        if o["kind"] == "ConfigMap" and "statusagg.json" in o.get("data", {})
    ]
    if [json.loads(d) for d in dashboards] != [json.loads((files / "dashboard.json").read_text())]:
        raise CheckError(f"{where}: the dashboard ConfigMap is not files/monitoring/dashboard.json")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--render", type=Path, help="also write the renderings to this directory")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        binary = helm_binary()
        if args.render is not None:
            args.render.mkdir(parents=True, exist_ok=True)
        rendered = render_charts(binary, args.render)
        check_kustomize_base(rendered["statusagg-defaults"])
        check_sidecar_example()
        check_image_user(rendered)
        check_image_labels()
        check_monitoring(rendered["statusagg-full"], "statusagg (full)")
    except CheckError as error:
        print(f"check-deploy: {error}", file=sys.stderr)
        return 1
    count = sum(len(cases) for cases in CASES.values())
    print(
        f"deploy artifacts are consistent: {count} chart renderings, kustomize base, sidecar "
        f"example, Dockerfile ({time.monotonic() - started:.1f}s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
