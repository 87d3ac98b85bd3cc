"""Built-in health interpretation: Karmada's native cases plus edge cases."""

from __future__ import annotations

import pytest

from interpreters import InterpreterError


def rollout(kind, new_object, *, replicas=3, **status):
    base = {"observedGeneration": 1, "updatedReplicas": 3, "availableReplicas": 3}
    spec = {} if replicas is None else {"replicas": replicas}
    return new_object("apps/v1", kind, spec=spec, status={**base, **status})


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet"])
class TestRolledOutWorkloads:
    def test_healthy(self, registry, new_object, kind):
        assert registry.health(rollout(kind, new_object)) is True

    def test_generation_not_observed(self, registry, new_object, kind):
        assert registry.health(rollout(kind, new_object, observedGeneration=0)) is False

    def test_replicas_not_updated(self, registry, new_object, kind):
        assert registry.health(rollout(kind, new_object, updatedReplicas=2)) is False

    def test_updated_not_available(self, registry, new_object, kind):
        assert registry.health(rollout(kind, new_object, availableReplicas=2)) is False

    def test_unset_spec_replicas_skips_the_desired_check(self, registry, new_object, kind):
        assert registry.health(rollout(kind, new_object, replicas=None, updatedReplicas=0)) is True
        obj = rollout(kind, new_object, replicas=None, availableReplicas=2)
        assert registry.health(obj) is False

    def test_without_status(self, registry, new_object, kind):
        assert registry.health(new_object("apps/v1", kind, spec={"replicas": 1})) is False


class TestReplicaSetAndDaemonSet:
    @pytest.mark.parametrize(
        ("status", "healthy"),
        [
            pytest.param({"observedGeneration": 1, "availableReplicas": 3}, True, id="healthy"),
            pytest.param({"observedGeneration": 2, "availableReplicas": 3}, False, id="generation"),
            pytest.param(
                {"observedGeneration": 1, "availableReplicas": 2}, False, id="unavailable"
            ),
        ],
    )
    def test_replica_set(self, registry, new_object, status, healthy):
        obj = new_object("apps/v1", "ReplicaSet", spec={"replicas": 3}, status=status)
        assert registry.health(obj) is healthy

    @pytest.mark.parametrize(
        ("status", "healthy"),
        [
            pytest.param(
                {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 2},
                True,
                id="healthy",
            ),
            pytest.param(
                {"desiredNumberScheduled": 2, "updatedNumberScheduled": 1, "numberAvailable": 2},
                False,
                id="updated-less-than-desired",
            ),
            pytest.param(
                {"desiredNumberScheduled": 2, "updatedNumberScheduled": 2, "numberAvailable": 1},
                False,
                id="available-less-than-updated",
            ),
        ],
    )
    def test_daemon_set(self, registry, new_object, status, healthy):
        obj = new_object("apps/v1", "DaemonSet", status={"observedGeneration": 1, **status})
        assert registry.health(obj) is healthy

    def test_daemon_set_generation(self, registry, new_object):
        obj = new_object("apps/v1", "DaemonSet", generation=2, status={"observedGeneration": 1})
        assert registry.health(obj) is False


class TestNetworking:
    def test_service_not_load_balancer(self, registry, new_object):
        assert registry.health(new_object("v1", "Service", spec={"type": "NodePort"})) is True

    @pytest.mark.parametrize(
        ("ingress", "healthy"),
        [
            pytest.param([], False, id="empty"),
            pytest.param([{"ports": [{"port": 80, "protocol": "TCP"}]}], False, id="no-address"),
            pytest.param([{}, {"ip": "1.2.3.4"}], True, id="ip"),
            pytest.param([{"hostname": "lb"}], True, id="hostname"),
        ],
    )
    def test_load_balancer_and_ingress(self, registry, new_object, ingress, healthy):
        status = {"loadBalancer": {"ingress": ingress}}
        service = new_object("v1", "Service", spec={"type": "LoadBalancer"}, status=status)
        assert registry.health(service) is healthy
        assert (
            registry.health(new_object("networking.k8s.io/v1", "Ingress", status=status)) is healthy
        )


class TestPodsAndVolumes:
    @pytest.mark.parametrize(
        ("status", "healthy"),
        [
            pytest.param(
                {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
                True,
                id="service-pod",
            ),
            pytest.param({"phase": "Succeeded"}, True, id="job-pod"),
            pytest.param(
                {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]},
                False,
                id="not-ready",
            ),
            pytest.param(
                {"phase": "Pending", "conditions": [{"type": "Ready", "status": "True"}]},
                False,
                id="pending",
            ),
            pytest.param({}, False, id="no-phase-or-conditions"),
        ],
    )
    def test_pod(self, registry, new_object, status, healthy):
        assert registry.health(new_object("v1", "Pod", status=status)) is healthy

    @pytest.mark.parametrize(
        ("phase", "healthy"), [("Bound", True), ("Pending", False), ("Lost", False)]
    )
    def test_pvc(self, registry, new_object, phase, healthy):
        obj = new_object("v1", "PersistentVolumeClaim", status={"phase": phase})
        assert registry.health(obj) is healthy

    @pytest.mark.parametrize(("current", "healthy"), [(3, True), (2, True), (1, False)])
    def test_pdb(self, registry, new_object, current, healthy):
        status = {"currentHealthy": current, "desiredHealthy": 2}
        assert (
            registry.health(new_object("policy/v1", "PodDisruptionBudget", status=status))
            is healthy
        )


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("v1", "PersistentVolume"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ],
)
def test_kinds_without_health_hook_return_none(registry, new_object, api_version, kind):
    assert registry.health(new_object(api_version, kind)) is None


def test_bad_status_type(registry, new_object):
    obj = new_object("v1", "PersistentVolumeClaim", status={"phase": 1})
    with pytest.raises(InterpreterError, match=r"health PersistentVolumeClaim\(default/demo\)"):
        registry.health(obj)
