"""Built-in status reflection: Karmada's native cases plus edge cases."""

from __future__ import annotations

import pytest

from interpreters import InterpreterError

WORKLOAD_STATUS = {
    "replicas": 3,
    "updatedReplicas": 3,
    "readyReplicas": 2,
    "availableReplicas": 2,
    "unavailableReplicas": 1,
    "observedGeneration": 4,
    "conditions": [{"type": "Available", "status": "True"}],
    "collisionCount": 1,
}


class TestDeploymentAndReplicaSet:
    def test_deployment_keeps_counters_and_generations(self, registry, new_object):
        obj = new_object(
            "apps/v1", "Deployment", generation=4, template_generation="2", status=WORKLOAD_STATUS
        )
        assert registry.reflect(obj) == {
            "generation": 4,
            "resourceTemplateGeneration": 2,
            "replicas": 3,
            "updatedReplicas": 3,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "unavailableReplicas": 1,
            "observedGeneration": 4,
        }

    def test_replica_set(self, registry, new_object):
        obj = new_object(
            "apps/v1", "ReplicaSet", template_generation="1", status={"fullyLabeledReplicas": 1}
        )
        assert registry.reflect(obj) == {
            "generation": 1,
            "resourceTemplateGeneration": 1,
            "replicas": 0,
        }

    @pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"])
    def test_without_status_is_none_even_without_annotation(self, registry, new_object, kind):
        assert registry.reflect(new_object("apps/v1", kind)) is None

    @pytest.mark.parametrize("kind", ["Deployment", "ReplicaSet", "StatefulSet", "DaemonSet"])
    def test_missing_annotation_is_an_error(self, registry, new_object, kind):
        obj = new_object("apps/v1", kind, status={"replicas": 1})
        with pytest.raises(
            InterpreterError, match=r"resourcetemplate\.karmada\.io/generation is missing"
        ):
            registry.reflect(obj)

    @pytest.mark.parametrize("value", ["abc", "1.0", " 1", "", "99999999999999999999"])
    def test_invalid_annotation_is_an_error(self, registry, new_object, value):
        obj = new_object("apps/v1", "Deployment", template_generation=value, status={"replicas": 1})
        with pytest.raises(InterpreterError, match="is not an integer"):
            registry.reflect(obj)

    def test_signed_annotation_is_accepted(self, registry, new_object):
        obj = new_object("apps/v1", "Deployment", template_generation="+3", status={"replicas": 1})
        assert registry.reflect(obj)["resourceTemplateGeneration"] == 3

    def test_all_zero_deployment_reflects_none(self, registry, new_object):
        obj = new_object(
            "apps/v1", "Deployment", generation=None, template_generation="0", status={}
        )
        assert registry.reflect(obj) is None

    def test_bad_counter_type(self, registry, new_object):
        obj = new_object(
            "apps/v1", "Deployment", template_generation="1", status={"replicas": True}
        )
        with pytest.raises(InterpreterError, match=r"status\.replicas: expected an integer"):
            registry.reflect(obj)


class TestStatefulSetAndDaemonSet:
    def test_stateful_set_partial_status_keeps_observed_generation(self, registry, new_object):
        obj = new_object(
            "apps/v1",
            "StatefulSet",
            generation=2,
            template_generation="2",
            status={
                "replicas": 2,
                "readyReplicas": 1,
                "observedGeneration": 2,
                "currentRevision": "r",
            },
        )
        assert registry.reflect(obj) == {
            "generation": 2,
            "resourceTemplateGeneration": 2,
            "replicas": 2,
            "readyReplicas": 1,
            "availableReplicas": 0,
            "observedGeneration": 2,
        }

    def test_daemon_set(self, registry, new_object):
        obj = new_object(
            "apps/v1",
            "DaemonSet",
            template_generation="1",
            status={"desiredNumberScheduled": 2, "numberAvailable": 2, "observedGeneration": 1},
        )
        assert registry.reflect(obj) == {
            "generation": 1,
            "resourceTemplateGeneration": 1,
            "currentNumberScheduled": 0,
            "desiredNumberScheduled": 2,
            "numberMisscheduled": 0,
            "numberReady": 0,
            "numberAvailable": 2,
            "observedGeneration": 1,
        }


class TestService:
    def test_non_load_balancer_returns_none(self, registry, new_object):
        obj = new_object("v1", "Service", spec={"type": "ClusterIP"}, status={"loadBalancer": {}})
        assert registry.reflect(obj) is None

    def test_missing_type_returns_none(self, registry, new_object):
        assert registry.reflect(new_object("v1", "Service", spec={}, status={})) is None

    def test_load_balancer_without_status_returns_none(self, registry, new_object):
        assert registry.reflect(new_object("v1", "Service", spec={"type": "LoadBalancer"})) is None

    def test_load_balancer_with_status(self, registry, new_object):
        status = {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}, "conditions": [{"type": "x"}]}
        obj = new_object("v1", "Service", spec={"type": "LoadBalancer"}, status=status)
        assert registry.reflect(obj) == {"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}]}}

    def test_invalid_status_format_is_an_error(self, registry, new_object):
        obj = new_object("v1", "Service", spec={"type": "LoadBalancer"})
        obj["status"] = "pending"
        with pytest.raises(InterpreterError, match="status must be an object"):
            registry.reflect(obj)


class TestJob:
    def test_all_fields(self, registry, new_object):
        status = {
            "active": 1,
            "succeeded": 2,
            "failed": 3,
            "ready": 1,
            "conditions": [{"type": "Complete", "status": "True"}],
            "startTime": "2024-05-01T10:00:00Z",
            "completionTime": "2024-05-01T10:05:00.123Z",
            "uncountedTerminatedPods": {},
        }
        assert registry.reflect(new_object("batch/v1", "Job", status=status)) == {
            "active": 1,
            "succeeded": 2,
            "failed": 3,
            "conditions": [{"type": "Complete", "status": "True"}],
            "startTime": "2024-05-01T10:00:00Z",
            "completionTime": "2024-05-01T10:05:00Z",
        }

    @pytest.mark.parametrize(
        ("status", "expected"),
        [
            pytest.param({"conditions": []}, {}, id="empty-conditions"),
            pytest.param({"active": 2}, {"active": 2}, id="only-active"),
            pytest.param(
                {"failed": 1, "startTime": "2024-05-01T10:00:00Z"},
                {"failed": 1, "startTime": "2024-05-01T10:00:00Z"},
                id="no-completion-time",
            ),
            pytest.param(
                {"succeeded": 1, "completionTime": None}, {"succeeded": 1}, id="nil-times"
            ),
        ],
    )
    def test_partial(self, registry, new_object, status, expected):
        assert registry.reflect(new_object("batch/v1", "Job", status=status)) == expected

    def test_no_status(self, registry, new_object):
        assert registry.reflect(new_object("batch/v1", "Job")) is None

    def test_invalid_type(self, registry, new_object):
        with pytest.raises(InterpreterError, match=r"status\.active: expected an integer"):
            registry.reflect(new_object("batch/v1", "Job", status={"active": "1"}))


class TestOthers:
    def test_pdb_drops_generation_and_conditions(self, registry, new_object):
        status = {
            "disruptionsAllowed": 1,
            "currentHealthy": 3,
            "desiredHealthy": 2,
            "expectedPods": 3,
            "observedGeneration": 5,
            "conditions": [{"type": "DisruptionAllowed"}],
            "disruptedPods": {"web-1": "2024-05-01T10:00:00Z"},
        }
        assert registry.reflect(new_object("policy/v1", "PodDisruptionBudget", status=status)) == {
            "disruptionsAllowed": 1,
            "currentHealthy": 3,
            "desiredHealthy": 2,
            "expectedPods": 3,
            "disruptedPods": {"web-1": "2024-05-01T10:00:00Z"},
        }

    def test_hpa(self, registry, new_object):
        status = {
            "currentReplicas": 2,
            "desiredReplicas": 4,
            "currentMetrics": [],
            "lastScaleTime": "x",
        }
        obj = new_object("autoscaling/v2", "HorizontalPodAutoscaler", status=status)
        assert registry.reflect(obj) == {"currentReplicas": 2, "desiredReplicas": 4}

    def test_ingress_reflects_whole_status(self, registry, new_object):
        status = {"loadBalancer": {"ingress": [{"hostname": "a"}]}, "extra": 1}
        assert (
            registry.reflect(new_object("networking.k8s.io/v1", "Ingress", status=status)) == status
        )

    @pytest.mark.parametrize(
        ("api_version", "kind"),
        [
            ("v1", "Pod"),
            ("v1", "PersistentVolumeClaim"),
            ("batch/v1", "CronJob"),
            ("example.io/v1", "Widget"),
        ],
    )
    def test_whole_status_for_kinds_without_a_hook(self, registry, new_object, api_version, kind):
        status = {"phase": "Running", "nested": {"list": [1, 2.5, "x"]}}
        obj = new_object(api_version, kind, status=status)
        reflected = registry.reflect(obj)
        assert reflected == status
        reflected["nested"]["list"].append(3)
        assert status["nested"]["list"] == [1, 2.5, "x"]

    def test_whole_status_absent(self, registry, new_object):
        assert registry.reflect(new_object("v1", "ConfigMap")) is None

    def test_whole_status_not_an_object(self, registry, new_object):
        obj = new_object("v1", "ConfigMap")
        obj["status"] = 3
        with pytest.raises(InterpreterError, match="status must be an object, got number"):
            registry.reflect(obj)
