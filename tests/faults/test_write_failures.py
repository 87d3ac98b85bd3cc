"""A status the API server refuses as too large ends as a visible failure, not a silent loop."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc
from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from aggregator.kube.resources import EVENTS, ResourceType
from aggregator.serve import RunningService
from tests.faults.report import FaultRecord
from tests.faults.workload import (
    Fleet,
    counter,
    create_templates,
    lost_updates,
    service_for,
    until,
)
from tests.helpers import api_requests, eventually

CRONJOBS = ResourceType("batch", "v1", "CronJob", "cronjobs", namespaced=True)
JOBS_PER_MEMBER = 680  # about 243 KB of `active` per member, under the 256 KiB item limit


def cronjob(name: str, namespace: str) -> dict[str, Any]:
    pod = {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": {"spec": pod}}}},
    }


def active_jobs(namespace: str, cluster: str, count: int) -> list[dict[str, str]]:
    return [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "namespace": namespace,
            "name": f"{cluster}-{i:04d}-" + "x" * 200,
            "uid": str(uuid.uuid4()),
            "resourceVersion": "12345",
        }
        for i in range(count)
    ]


class Members:
    """Agents of ``clusters`` members reporting CronJob statuses."""

    def __init__(self, stub: pb_grpc.StatusAggregatorStub, namespace: str, clusters: int) -> None:
        self.stub = stub
        self.namespace = namespace
        self.clusters = [f"member-{i:02d}" for i in range(clusters)]
        self.sequence = 0

    async def report(self, name: str, jobs: int) -> None:
        items = []
        for cluster in self.clusters:
            self.sequence += 1
            status = {"active": active_jobs(self.namespace, cluster, jobs)}
            items.append(
                pb.MemberStatus(
                    cluster=cluster,
                    resource=pb.ResourceRef(
                        api_version="batch/v1", kind="CronJob", namespace=self.namespace, name=name
                    ),
                    status_json=json.dumps(status).encode(),
                    applied=True,
                    generation=1,
                    observed_generation=1,
                    template_generation=1,
                    sequence=self.sequence,
                )
            )
        reply = await self.stub.Report(pb.ReportRequest(items=items), timeout=60)
        for result in reply.results:
            assert result.outcome == pb.ItemResult.OUTCOME_ACCEPTED, result.reason

    async def last_write(self, name: str) -> pb.WriteResult:
        reply = await self.stub.GetAggregate(
            pb.GetAggregateRequest(
                resource=pb.ResourceRef(
                    api_version="batch/v1", kind="CronJob", namespace=self.namespace, name=name
                )
            )
        )
        return reply.last_write


async def status_writes(kube: KubeClient) -> int:
    """CronJob status writes the API server answered, whatever the answer."""
    counts = await api_requests(kube, "cronjobs")
    return sum(v for (verb, _, sub), v in counts.items() if sub == "status" and verb != "GET")


def idle(svc: RunningService) -> bool:
    queue = svc.service.queue
    return len(queue) == 0 and queue.in_flight == 0


@pytest.mark.parametrize(
    ("clusters", "code"),
    [(10, 500), (14, 413)],
    ids=["etcd-request-too-large", "request-entity-too-large"],
)
async def test_too_large_status_fails_visibly_and_waits_for_new_inputs(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    fault: FaultRecord,
    clusters: int,
    code: int,
) -> None:
    """Members each report a valid ~243 KB CronJob `active` list; together they exceed etcd's
    request limit (1.5 MiB, a 500) or the API server's body limit (3 MiB, a 413). The write
    fails once, visibly, and is not retried until an input changes; a smaller report is then
    written, and other resources are written meanwhile."""
    fault.name = f"status too large for the API server ({clusters} members x 243 KB, {code})"
    fault.injected = 1
    await kube.create(CRONJOBS, cronjob("big", namespace))
    await kube.create(CRONJOBS, cronjob("small", namespace))
    async with service_for(apiserver.kubeconfig, min_write_interval_s=0.05) as (svc, stub):
        metrics = svc.service.metrics
        members = Members(stub, namespace, clusters)
        other = Members(stub, namespace, 1)
        await other.report("small", 1)  # the CronJob watch is up before the big report
        await eventually(lambda: _active_count(kube, namespace, "small"))
        writes_before = await status_writes(kube)
        await members.report("big", JOBS_PER_MEMBER)

        async def failed() -> pb.WriteResult | None:
            last = await members.last_write("big")
            return last if last.outcome == "failed" else None

        last = await eventually(failed)
        assert "too large" in last.message, last.message
        assert f"HTTP {code}" in last.message, last.message

        async def warning() -> list[dict[str, Any]]:
            events = (await kube.list(EVENTS, namespace))["items"]
            return [
                e
                for e in events
                if e["involvedObject"]["name"] == "big"
                and e["type"] == "Warning"
                and e["reason"] == "AggregateStatusFailed"
            ]

        events = await eventually(warning)
        assert "too large" in events[0]["message"], events[0]["message"]

        # nothing is left to retry: the key leaves the queue, the service keeps working
        await until(lambda: idle(svc))
        await other.report("small", 2)
        await eventually(lambda: _active_count(kube, namespace, "small", want=2))
        await until(lambda: idle(svc))
        attempts = await status_writes(kube) - writes_before
        assert attempts == 2, attempts  # one refused write of "big", one write of "small"
        assert counter(metrics.write_failures, reason="too-large") == 1
        assert (await members.last_write("big")).outcome == "failed"

        # a new, smaller report is an input change: written at once
        await members.report("big", 1)
        written = await eventually(lambda: _active_count(kube, namespace, "big"))
        assert written == clusters
        assert (await members.last_write("big")).outcome == "written"
        fault.lost_updates = 0
        fault.figures.update(
            {
                "refused writes": int(counter(metrics.write_failures, reason="too-large")),
                "status write attempts": await status_writes(kube) - writes_before,
                "warning events": len(await warning()),
            }
        )


async def _active_count(kube: KubeClient, namespace: str, name: str, want: int = 0) -> int:
    """The number of active jobs in the live status (0 until it is ``want``, if given)."""
    obj = await kube.get(CRONJOBS, namespace, name)
    count = len(obj.get("status", {}).get("active", []))
    return count if not want or count == want else 0


SERVICE_ACCOUNTS = ResourceType("", "v1", "ServiceAccount", "serviceaccounts", namespaced=True)
CLUSTER_ROLES = ResourceType(
    "rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", namespaced=False
)
CLUSTER_ROLE_BINDINGS = ResourceType(
    "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False
)


def role_rules(*, status_writes: bool) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = [
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["events"], "verbs": ["create", "patch"]},
    ]
    if status_writes:
        rules.append(
            {"apiGroups": ["apps"], "resources": ["deployments/status"], "verbs": ["update"]}
        )
    return rules


async def limited_kubeconfig(
    apiserver: LocalAPIServer, kube: KubeClient, namespace: str, directory: Path
) -> tuple[Path, str]:
    """A kubeconfig of a service account that may read Deployments but not write their status;
    returns it and the name of its ClusterRole."""
    role = f"statusagg-{namespace}"
    await kube.create(SERVICE_ACCOUNTS, {"metadata": {"name": "statusagg", "namespace": namespace}})
    await kube.create(
        CLUSTER_ROLES, {"metadata": {"name": role}, "rules": role_rules(status_writes=False)}
    )
    subject = {"kind": "ServiceAccount", "name": "statusagg", "namespace": namespace}
    await kube.create(
        CLUSTER_ROLE_BINDINGS,
        {
            "metadata": {"name": role},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role,
            },
            "subjects": [subject],
        },
    )
    path = SERVICE_ACCOUNTS.object_path(namespace, "statusagg") + "/token"
    request = {"spec": {"expirationSeconds": 3600}}
    token = (await kube.request("POST", path, verb="create", body=request))["status"]["token"]
    config = yaml.safe_load(apiserver.kubeconfig.read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    limited = directory / "kubeconfig"
    limited.write_text(yaml.safe_dump(config))
    return limited, role


async def test_retryable_failure_shows_when_it_retries_and_heals(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    fault: FaultRecord,
    tmp_path: Path,
) -> None:
    """The service may not write Deployment statuses (403, as with a missing RBAC rule): the
    write is retried with capped backoff, the last write says when, the metric counts it; once
    the rule is granted, the next retry writes."""
    fault.name = "status writes forbidden (403) until RBAC is fixed"
    fault.injected = 1
    kubeconfig, role = await limited_kubeconfig(apiserver, kube, namespace, tmp_path)
    await create_templates(kube, namespace, ["web"])
    fleet = Fleet(namespace, ["web"])
    async with service_for(kubeconfig, max_backoff_s=0.5, min_write_interval_s=0.05) as (
        svc,
        stub,
    ):
        metrics = svc.service.metrics
        await fleet.round(stub, 1)

        async def retrying() -> pb.WriteResult | None:
            reply = await stub.GetAggregate(
                pb.GetAggregateRequest(
                    resource=pb.ResourceRef(
                        api_version="apps/v1", kind="Deployment", namespace=namespace, name="web"
                    )
                )
            )
            last = reply.last_write
            return last if last.outcome == "failed" and counter(metrics.retries) >= 3 else None

        last = await eventually(retrying)
        match = re.match(
            r"retrying in (\d+\.\d)s: the API server refused the write: HTTP 403", last.message
        )
        assert match, last.message
        assert float(match.group(1)) <= 0.5  # the backoff cap
        assert counter(metrics.write_failures, reason="client-error") >= 3
        queue = svc.service.queue
        assert len(queue) + queue.in_flight == 1  # still to be retried

        granted = await kube.get(CLUSTER_ROLES, None, role)
        granted["rules"] = role_rules(status_writes=True)
        await kube.replace(CLUSTER_ROLES, granted)
        await fault.converge(lambda: lost_updates(kube, namespace, {"web": fleet.expected("web")}))
        fault.figures.update(
            {
                "refused writes": int(counter(metrics.write_failures, reason="client-error")),
                "retries": int(counter(metrics.retries)),
            }
        )
