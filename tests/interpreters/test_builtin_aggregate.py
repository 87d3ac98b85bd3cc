"""Built-in aggregation: Karmada's native cases plus edge cases."""

from __future__ import annotations

import copy
import re

import pytest

from interpreters import InterpreterError, UnknownKindError

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def member(generation=1, template_generation=1, observed=1, **counters):
    return {
        "generation": generation,
        "resourceTemplateGeneration": template_generation,
        "observedGeneration": observed,
        **counters,
    }


class TestDeployment:
    def test_sums_two_members(self, registry, new_object, new_item):
        template = new_object("apps/v1", "Deployment", spec={"replicas": 2})
        status = member(replicas=1, readyReplicas=1, updatedReplicas=1, availableReplicas=1)
        items = [new_item("member1", status), new_item("member2", status)]
        result = registry.aggregate(template, items)
        assert result["status"] == {
            "observedGeneration": 1,
            "replicas": 2,
            "readyReplicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
        }
        assert result["spec"] == {"replicas": 2}

    def test_up_to_date_aggregation_is_unchanged(self, registry, new_object, new_item):
        template = new_object("apps/v1", "Deployment")
        items = [new_item("member1", member(replicas=1)), new_item("member2", member(replicas=1))]
        first = registry.aggregate(template, items)
        assert registry.aggregate(first, items) == first

    def test_counters_stay_ints(self, registry, new_object, new_item):
        items = [new_item("m1", member(replicas=3.0, unavailableReplicas=1))]
        status = registry.aggregate(new_object("apps/v1", "Deployment"), items)["status"]
        assert status["replicas"] == 3
        assert type(status["replicas"]) is int
        assert type(status["unavailableReplicas"]) is int

    def test_zero_counters_are_omitted_and_other_fields_kept(self, registry, new_object, new_item):
        conditions = [{"type": "Available", "status": "True"}]
        template = new_object(
            "apps/v1",
            "Deployment",
            status={
                "replicas": 4,
                "readyReplicas": 4,
                "conditions": conditions,
                "collisionCount": 1,
            },
        )
        result = registry.aggregate(template, [new_item("m1", member(replicas=1))])
        assert result["status"] == {
            "replicas": 1,
            "observedGeneration": 1,
            "conditions": conditions,
            "collisionCount": 1,
        }

    def test_does_not_mutate_inputs(self, registry, new_object, new_item):
        template = new_object("apps/v1", "Deployment", status={"replicas": 9})
        items = [new_item("b", member(replicas=1)), new_item("a", member(replicas=2))]
        before = copy.deepcopy((template, items))
        result = registry.aggregate(template, items)
        assert (template, items) == before
        result["metadata"]["name"] = "changed"
        assert template["metadata"]["name"] == "demo"

    def test_no_items_zeroes_counters_and_observes_generation(self, registry, new_object):
        template = new_object("apps/v1", "Deployment", generation=3, status={"replicas": 2})
        assert registry.aggregate(template, [])["status"] == {"observedGeneration": 3}

    def test_items_without_status_and_not_applied_are_skipped_but_block_generation(
        self, registry, new_object, new_item
    ):
        template = new_object(
            "apps/v1", "Deployment", generation=2, status={"observedGeneration": 1}
        )
        items = [
            new_item("m1", member(2, 2, 2, replicas=2)),
            new_item("m2"),
            new_item("m3", applied=False),
        ]
        status = registry.aggregate(template, items)["status"]
        assert status == {"replicas": 2, "observedGeneration": 1}

    @pytest.mark.parametrize(
        ("generation", "template_generation", "observed", "expected"),
        [
            pytest.param(2, 2, 2, 2, id="caught-up"),
            pytest.param(3, 3, 4, 2, id="member-ahead-of-template"),
            pytest.param(2, 1, 2, 1, id="built-from-older-template"),
            pytest.param(3, 2, 2, 1, id="member-controller-behind"),
            pytest.param(0, 0, 0, 1, id="no-generations-reported"),
        ],
    )
    def test_observed_generation_rule(
        self, registry, new_object, new_item, generation, template_generation, observed, expected
    ):
        template = new_object(
            "apps/v1", "Deployment", generation=2, status={"observedGeneration": 1}
        )
        items = [
            new_item("m1", member(2, 2, 2)),
            new_item("m2", member(generation, template_generation, observed)),
        ]
        assert registry.aggregate(template, items)["status"]["observedGeneration"] == expected

    def test_template_ahead_of_all_members_keeps_old_generation(
        self, registry, new_object, new_item
    ):
        template = new_object(
            "apps/v1", "Deployment", generation=5, status={"observedGeneration": 4}
        )
        items = [new_item("m1", member(4, 4, 4)), new_item("m2", member(4, 4, 4))]
        assert registry.aggregate(template, items)["status"]["observedGeneration"] == 4

    def test_string_counter_is_an_interpreter_error(self, registry, new_object, new_item):
        items = [new_item("member1", member(replicas="3"))]
        with pytest.raises(
            InterpreterError, match=r"member1: status\.replicas: expected an integer"
        ):
            registry.aggregate(new_object("apps/v1", "Deployment"), items)

    def test_non_object_status_is_an_interpreter_error(self, registry, new_object):
        items = [{"clusterName": "member1", "applied": True, "status": "Running"}]
        with pytest.raises(InterpreterError, match="member1: status must be an object"):
            registry.aggregate(new_object("apps/v1", "Deployment"), items)

    def test_non_object_template_status_is_an_interpreter_error(self, registry, new_object):
        template = new_object("apps/v1", "Deployment")
        template["status"] = ["bad"]
        with pytest.raises(InterpreterError, match="status must be an object"):
            registry.aggregate(template, [])


class TestReplicaSetStatefulSetDaemonSet:
    def test_replica_set_keeps_required_replicas(self, registry, new_object, new_item):
        items = [
            new_item("m1", member(readyReplicas=1)),
            new_item("m2", member(availableReplicas=1)),
        ]
        status = registry.aggregate(new_object("apps/v1", "ReplicaSet"), items)["status"]
        assert status == {
            "replicas": 0,
            "readyReplicas": 1,
            "availableReplicas": 1,
            "observedGeneration": 1,
        }

    def test_stateful_set_sums(self, registry, new_object, new_item):
        counters = {
            "replicas": 1,
            "readyReplicas": 1,
            "currentReplicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 1,
        }
        items = [new_item("member1", member(**counters)), new_item("member2", member(**counters))]
        template = new_object("apps/v1", "StatefulSet", status={"currentRevision": "web-1"})
        status = registry.aggregate(template, items)["status"]
        assert status == {
            "currentRevision": "web-1",
            "replicas": 2,
            "readyReplicas": 2,
            "currentReplicas": 2,
            "updatedReplicas": 2,
            "availableReplicas": 2,
            "observedGeneration": 1,
        }

    def test_stateful_set_observed_generation_advances_like_deployment(
        self, registry, new_object, new_item
    ):
        """Deliberate difference: in Karmada it never advances once members report generations."""
        template = new_object(
            "apps/v1", "StatefulSet", generation=2, status={"observedGeneration": 1}
        )
        items = [new_item("m1", member(2, 2, 2, replicas=1, availableReplicas=0))]
        status = registry.aggregate(template, items)["status"]
        assert status == {"observedGeneration": 2, "replicas": 1, "availableReplicas": 0}

    def test_stateful_set_required_counters_written_when_zero(self, registry, new_object):
        status = registry.aggregate(new_object("apps/v1", "StatefulSet"), [])["status"]
        assert status == {"replicas": 0, "availableReplicas": 0, "observedGeneration": 1}

    def test_daemon_set_sums(self, registry, new_object, new_item):
        counters = {
            "currentNumberScheduled": 1,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 1,
            "numberReady": 1,
            "updatedNumberScheduled": 1,
            "numberAvailable": 1,
            "numberUnavailable": 0,
        }
        items = [new_item("member1", member(**counters)), new_item("member2", member(**counters))]
        status = registry.aggregate(new_object("apps/v1", "DaemonSet"), items)["status"]
        assert status == {
            "currentNumberScheduled": 2,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 2,
            "numberReady": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 2,
            "observedGeneration": 1,
        }


class TestServiceAndIngress:
    @pytest.mark.parametrize("service_type", ["ClusterIP", "NodePort", "ExternalName", None])
    def test_non_load_balancer_service_is_unchanged(
        self, registry, new_object, new_item, service_type
    ):
        spec = {} if service_type is None else {"type": service_type}
        template = new_object("v1", "Service", spec=spec, status={"conditions": []})
        items = [new_item("m1", {"loadBalancer": {"ingress": [{"ip": "8.8.8.8"}]}})]
        assert registry.aggregate(template, items) == template

    def test_load_balancer_service_merges_ingress(self, registry, new_object, new_item):
        template = new_object(
            "v1", "Service", spec={"type": "LoadBalancer"}, status={"conditions": [{"type": "x"}]}
        )
        items = [
            new_item("member1", {"loadBalancer": {"ingress": [{"ip": "8.8.8.8"}]}}),
            new_item("member2", {"loadBalancer": {"ingress": [{"hostname": "lb.example.com"}]}}),
            new_item("member3", {"loadBalancer": {"ingress": [{"ip": "8.8.8.8"}]}}),
            new_item("member4"),
        ]
        status = registry.aggregate(template, items)["status"]
        assert status == {
            "loadBalancer": {"ingress": [{"hostname": "lb.example.com"}, {"ip": "8.8.8.8"}]}
        }

    def test_load_balancer_without_ingress(self, registry, new_object, new_item):
        template = new_object("v1", "Service", spec={"type": "LoadBalancer"})
        items = [new_item("m1", {"loadBalancer": {}})]
        assert registry.aggregate(template, items)["status"] == {"loadBalancer": {}}

    def test_ingress_merges_and_is_stable(self, registry, new_object, new_item):
        template = new_object("networking.k8s.io/v1", "Ingress")
        items = [new_item("member1", {"loadBalancer": {"ingress": [{"ip": "8.8.8.8"}]}})]
        first = registry.aggregate(template, items)
        assert first["status"] == {"loadBalancer": {"ingress": [{"ip": "8.8.8.8"}]}}
        assert registry.aggregate(first, items) == first

    def test_bad_ingress_port_is_an_error(self, registry, new_object, new_item):
        template = new_object("networking.k8s.io/v1", "Ingress")
        ingress = [{"ip": "1.1.1.1", "ports": [{"port": "80", "protocol": "TCP"}]}]
        items = [new_item("m1", {"loadBalancer": {"ingress": ingress}})]
        with pytest.raises(InterpreterError, match=r"ports\[0\]\.port: expected an integer"):
            registry.aggregate(template, items)


def job_status(*conditions, succeeded=0, failed=0, start=None, completion=None):
    status = {
        "conditions": [{"type": kind, "status": "True"} for kind in conditions],
        "succeeded": succeeded,
        "failed": failed,
    }
    if start:
        status["startTime"] = start
    if completion:
        status["completionTime"] = completion
    return status


def without_times(status):
    for condition in status.get("conditions", []):
        assert TIMESTAMP.fullmatch(condition.pop("lastProbeTime"))
        assert TIMESTAMP.fullmatch(condition.pop("lastTransitionTime"))
    return status


class TestJob:
    START = "2024-05-01T10:00:00Z"
    END = "2024-05-01T10:05:00Z"

    def test_completed_in_every_member(self, registry, new_object, new_item):
        done = job_status("Complete", succeeded=1, start=self.START, completion=self.END)
        items = [new_item("member1", done), new_item("member2", done)]
        status = registry.aggregate(new_object("batch/v1", "Job"), items)["status"]
        assert without_times(status) == {
            "succeeded": 2,
            "startTime": self.START,
            "completionTime": self.END,
            "conditions": [
                {
                    "type": "Complete",
                    "status": "True",
                    "reason": "Completed",
                    "message": "Job completed",
                }
            ],
        }

    def test_success_criteria_met_when_every_member_met_it(self, registry, new_object, new_item):
        done = job_status("SuccessCriteriaMet", "Complete", succeeded=1)
        status = registry.aggregate(new_object("batch/v1", "Job"), [new_item("m1", done)])["status"]
        assert [c["type"] for c in status["conditions"]] == ["Complete", "SuccessCriteriaMet"]
        assert status["conditions"][1]["reason"] == "CompletionsReached"

    def test_failed_member_fails_the_job(self, registry, new_object, new_item):
        items = [
            new_item(
                "member1",
                job_status("Complete", succeeded=1, start=self.START, completion=self.END),
            ),
            new_item(
                "member2", job_status("Failed", failed=1, start=self.START, completion=self.END)
            ),
        ]
        status = registry.aggregate(new_object("batch/v1", "Job"), items)["status"]
        assert without_times(status) == {
            "succeeded": 1,
            "failed": 1,
            "startTime": self.START,
            "completionTime": self.END,
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "JobFailed",
                    "message": "Job executed failed in member clusters member2",
                }
            ],
        }

    def test_failure_target_precedes_failed(self, registry, new_object, new_item):
        items = [new_item("m1", job_status("FailureTarget", "Failed", failed=1))]
        status = registry.aggregate(new_object("batch/v1", "Job"), items)["status"]
        assert [c["type"] for c in status["conditions"]] == ["FailureTarget", "Failed"]

    @pytest.mark.parametrize("finished", ["Complete", "Failed"])
    def test_finished_job_is_never_updated(self, registry, new_object, new_item, finished):
        template = new_object("batch/v1", "Job", status=job_status(finished, succeeded=7))
        items = [new_item("m1", job_status(succeeded=1))]
        assert registry.aggregate(template, items) == template

    def test_running_job_times_need_every_member(self, registry, new_object, new_item):
        items = [
            new_item("m1", {"active": 1, "startTime": "2024-05-01T10:00:09+02:00"}),
            new_item("m2", {"active": 2, "startTime": "2024-05-01T09:00:00Z"}),
            new_item("m3"),
        ]
        status = registry.aggregate(new_object("batch/v1", "Job"), items)["status"]
        assert status == {"active": 3}
        status = registry.aggregate(new_object("batch/v1", "Job"), items[:2])["status"]
        assert status == {"active": 3, "startTime": "2024-05-01T08:00:09Z"}

    def test_template_start_time_is_kept_and_latest_completion_wins(
        self, registry, new_object, new_item
    ):
        template = new_object("batch/v1", "Job", status={"startTime": "2024-01-01T00:00:00Z"})
        items = [
            new_item("m1", {"succeeded": 1, "startTime": self.START, "completionTime": self.END}),
            new_item(
                "m2",
                {"succeeded": 1, "startTime": self.START, "completionTime": "2024-05-01T11:00:00Z"},
            ),
        ]
        status = registry.aggregate(template, items)["status"]
        assert status == {
            "succeeded": 2,
            "startTime": "2024-01-01T00:00:00Z",
            "completionTime": "2024-05-01T11:00:00Z",
        }

    def test_no_items(self, registry, new_object):
        template = new_object("batch/v1", "Job", status={"active": 3, "ready": 3})
        assert registry.aggregate(template, [])["status"] == {}

    def test_bad_timestamp(self, registry, new_object, new_item):
        items = [new_item("m1", {"startTime": "yesterday"})]
        with pytest.raises(InterpreterError, match=r"m1: status\.startTime: expected an RFC 3339"):
            registry.aggregate(new_object("batch/v1", "Job"), items)


class TestCronJob:
    def test_update_cron_job_status(self, registry, new_object, new_item):
        template = new_object("batch/v1", "CronJob", status={"active": [{"name": "old"}]})
        items = [
            new_item(
                "m1",
                {
                    "active": [{"kind": "Job", "name": "a"}],
                    "lastScheduleTime": "2024-05-01T10:00:00Z",
                },
            ),
            new_item(
                "m2",
                {
                    "active": [{"kind": "Job", "name": "b"}],
                    "lastScheduleTime": "2024-05-01T11:00:00Z",
                    "lastSuccessfulTime": "2024-05-01T09:00:00Z",
                },
            ),
            new_item("m3"),
        ]
        status = registry.aggregate(template, items)["status"]
        assert status == {
            "active": [{"kind": "Job", "name": "a"}, {"kind": "Job", "name": "b"}],
            "lastScheduleTime": "2024-05-01T11:00:00Z",
            "lastSuccessfulTime": "2024-05-01T09:00:00Z",
        }

    def test_no_items_clears_active(self, registry, new_object):
        template = new_object("batch/v1", "CronJob", status={"active": [{"name": "old"}]})
        assert registry.aggregate(template, [])["status"] == {}


def container(ready, state):
    return {"name": "c", "image": "nginx", "restartCount": 3, "ready": ready, "state": state}


def aggregated_container(ready, state):
    return {
        "name": "",
        "state": state,
        "lastState": {},
        "ready": ready,
        "restartCount": 0,
        "image": "",
        "imageID": "",
    }


RUNNING = {"running": {"startedAt": "2024-05-01T10:00:00Z"}}


class TestPod:
    def test_update_pod_status(self, registry, new_object, new_item):
        items = [
            new_item("m1", {"phase": "Running", "containerStatuses": [container(True, RUNNING)]}),
            new_item("m2", {"phase": "Running", "containerStatuses": [container(False, RUNNING)]}),
        ]
        status = registry.aggregate(new_object("v1", "Pod"), items)["status"]
        assert status == {
            "phase": "Running",
            "containerStatuses": [
                aggregated_container(True, RUNNING),
                aggregated_container(False, RUNNING),
            ],
        }

    def test_init_container_statuses(self, registry, new_object, new_item):
        terminated = {"terminated": {"exitCode": 0}}
        items = [
            new_item(
                "m1", {"phase": "Pending", "initContainerStatuses": [container(False, terminated)]}
            )
        ]
        status = registry.aggregate(new_object("v1", "Pod"), items)["status"]
        assert status == {
            "phase": "Pending",
            "initContainerStatuses": [aggregated_container(False, terminated)],
        }

    @pytest.mark.parametrize(
        ("phases", "expected"),
        [
            pytest.param(["Running", "Failed", "Pending"], "Failed", id="one-failed"),
            pytest.param(["Running", "Pending", "Succeeded"], "Pending", id="pending"),
            pytest.param(["Succeeded", "Running"], "Running", id="running"),
            pytest.param(["Succeeded", "Succeeded"], "Succeeded", id="succeeded"),
            pytest.param(["Running", None], "Pending", id="unreported-is-pending"),
            pytest.param(["Unknown"], None, id="unknown-only"),
        ],
    )
    def test_phase_precedence(self, registry, new_object, new_item, phases, expected):
        items = [
            new_item(f"m{index}", None if phase is None else {"phase": phase})
            for index, phase in enumerate(phases)
        ]
        status = registry.aggregate(new_object("v1", "Pod"), items)["status"]
        assert status.get("phase") == expected

    def test_no_items_leaves_status(self, registry, new_object):
        template = new_object("v1", "Pod", status={"phase": "Running", "podIP": "10.0.0.1"})
        assert registry.aggregate(template, []) == template


class TestVolumes:
    @pytest.mark.parametrize(
        ("phases", "expected"),
        [
            pytest.param(["Bound", "Failed"], "Failed", id="failed"),
            pytest.param(["Bound", None], "Pending", id="unreported-is-pending"),
            pytest.param(["Bound", "Available"], "Available", id="available"),
            pytest.param(["Released", "Bound"], "Bound", id="bound"),
            pytest.param(["Released"], "Released", id="released"),
        ],
    )
    def test_persistent_volume_phase(self, registry, new_object, new_item, phases, expected):
        items = [
            new_item(f"m{i}", None if phase is None else {"phase": phase, "message": "x"})
            for i, phase in enumerate(phases)
        ]
        template = new_object("v1", "PersistentVolume", status={"phase": "Bound", "reason": "r"})
        assert registry.aggregate(template, items)["status"] == {"phase": expected}

    def test_persistent_volume_without_items_is_unchanged(self, registry, new_object):
        template = new_object("v1", "PersistentVolume")
        assert registry.aggregate(template, []) == template

    @pytest.mark.parametrize(
        ("phases", "expected"),
        [
            pytest.param(["Bound", "Bound"], "Bound", id="bound"),
            pytest.param(["Pending", "Bound"], "Pending", id="pending"),
            pytest.param(["Lost", "Pending"], "Lost", id="lost-wins"),
            pytest.param(["Pending", "Lost"], "Lost", id="lost-wins-late"),
            pytest.param(["Pending", None, "Bound"], "Pending", id="unreported-skipped"),
            pytest.param([], "Bound", id="no-items"),
        ],
    )
    def test_persistent_volume_claim_phase(self, registry, new_object, new_item, phases, expected):
        items = [
            new_item(
                f"m{i}", None if phase is None else {"phase": phase, "capacity": {"storage": "1Gi"}}
            )
            for i, phase in enumerate(phases)
        ]
        template = new_object(
            "v1", "PersistentVolumeClaim", status={"capacity": {"storage": "1Gi"}}
        )
        assert registry.aggregate(template, items)["status"] == {"phase": expected}


class TestPodDisruptionBudgetAndAutoscaler:
    def test_pdb_sums(self, registry, new_object, new_item):
        counters = {
            "currentHealthy": 1,
            "desiredHealthy": 1,
            "expectedPods": 1,
            "disruptionsAllowed": 0,
        }
        items = [new_item("member1", counters), new_item("member2", counters)]
        template = new_object("policy/v1", "PodDisruptionBudget", status={"observedGeneration": 1})
        assert registry.aggregate(template, items)["status"] == {
            "currentHealthy": 2,
            "desiredHealthy": 2,
            "expectedPods": 2,
            "disruptionsAllowed": 0,
        }

    def test_pdb_disrupted_pods_are_keyed_by_cluster(self, registry, new_object, new_item):
        disrupted = {"disruptedPods": {"web-0": "2024-05-01T10:00:00Z"}, "currentHealthy": 1}
        items = [new_item("member1", disrupted), new_item("member2", disrupted)]
        status = registry.aggregate(new_object("policy/v1", "PodDisruptionBudget"), items)["status"]
        assert status["disruptedPods"] == {
            "member1/web-0": "2024-05-01T10:00:00Z",
            "member2/web-0": "2024-05-01T10:00:00Z",
        }
        assert status["currentHealthy"] == 2

    def test_hpa_replaces_whole_status(self, registry, new_object, new_item):
        template = new_object(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            status={
                "currentReplicas": 9,
                "desiredReplicas": 9,
                "conditions": [{"type": "AbleToScale"}],
            },
        )
        items = [
            new_item("m1", {"currentReplicas": 2, "desiredReplicas": 3, "currentMetrics": []}),
            new_item("m2", {"currentReplicas": 1, "desiredReplicas": 1}),
        ]
        assert registry.aggregate(template, items)["status"] == {
            "currentReplicas": 3,
            "desiredReplicas": 4,
        }

    def test_hpa_without_items_is_unchanged(self, registry, new_object):
        template = new_object("autoscaling/v2", "HorizontalPodAutoscaler")
        assert registry.aggregate(template, []) == template


@pytest.mark.parametrize(
    ("api_version", "kind", "status"),
    [
        ("apps/v1", "Deployment", member(replicas=2, readyReplicas=1)),
        ("apps/v1", "ReplicaSet", member(replicas=2)),
        ("apps/v1", "StatefulSet", member(replicas=2, currentReplicas=2)),
        ("apps/v1", "DaemonSet", member(numberReady=1, desiredNumberScheduled=1)),
        ("networking.k8s.io/v1", "Ingress", {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}),
        ("batch/v1", "CronJob", {"active": [{"name": "a"}]}),
        ("v1", "Pod", {"phase": "Running"}),
        ("v1", "PersistentVolume", {"phase": "Bound"}),
        ("v1", "PersistentVolumeClaim", {"phase": "Bound"}),
        ("policy/v1", "PodDisruptionBudget", {"currentHealthy": 1, "desiredHealthy": 1}),
        ("autoscaling/v2", "HorizontalPodAutoscaler", {"currentReplicas": 1, "desiredReplicas": 2}),
        ("batch/v1", "Job", {"active": 1, "startTime": "2024-05-01T10:00:00Z"}),
    ],
)
def test_aggregating_again_is_up_to_date(registry, new_object, new_item, api_version, kind, status):
    items = [new_item("member1", status), new_item("member2", status)]
    first = registry.aggregate(new_object(api_version, kind), items)
    assert registry.aggregate(first, items) == first


def test_unknown_kind_has_no_aggregate(registry, new_object):
    with pytest.raises(UnknownKindError, match="no aggregate interpreter for v1 ConfigMap"):
        registry.aggregate(new_object("v1", "ConfigMap"), [])


def test_autoscaling_v1_is_not_covered(registry, new_object):
    with pytest.raises(UnknownKindError):
        registry.aggregate(new_object("autoscaling/v1", "HorizontalPodAutoscaler"), [])
