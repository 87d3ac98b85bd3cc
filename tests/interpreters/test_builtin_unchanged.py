"""An aggregate equal to the template's typed status leaves the template untouched, as in Karmada.

Karmada's native aggregators convert the template to its Go type, compare the new
status with the current one and return the original object when they are equal:
a missing field equals its zero value, a nil pointer differs from a pointer to
zero, and (except for DaemonSet's semantic comparison) a nil list differs from [].
"""

from __future__ import annotations

import pytest

from interpreters.builtin.goequal import Map, Ptr, Slice, Struct, Time, go_equal

T0 = "2024-05-01T10:00:00Z"


def no_status_yet(new_item):
    return [new_item("member1"), new_item("member2", applied=False)]


@pytest.mark.parametrize(
    ("api_version", "kind", "status"),
    [
        ("apps/v1", "Deployment", {}),
        ("apps/v1", "ReplicaSet", {}),
        ("apps/v1", "StatefulSet", {}),
        ("apps/v1", "DaemonSet", {}),
        ("autoscaling/v2", "HorizontalPodAutoscaler", {}),
        ("batch/v1", "CronJob", {}),
        ("batch/v1", "Job", {}),
        ("v1", "PersistentVolumeClaim", {"phase": "Bound"}),
        ("policy/v1", "PodDisruptionBudget", {"disruptedPods": {}}),
        ("apps/v1", "ReplicaSet", None),
        ("autoscaling/v2", "HorizontalPodAutoscaler", None),
    ],
)
def test_members_without_status_leave_empty_status(
    registry, new_object, new_item, api_version, kind, status
):
    template = new_object(api_version, kind, status=status)
    assert registry.aggregate(template, no_status_yet(new_item)) == template


@pytest.mark.parametrize(
    ("api_version", "kind", "written"),
    [
        ("apps/v1", "ReplicaSet", {"replicas": 0, "observedGeneration": 1}),
        (
            "apps/v1",
            "StatefulSet",
            {"replicas": 0, "availableReplicas": 0, "observedGeneration": 1},
        ),
        (
            "apps/v1",
            "DaemonSet",
            {
                "currentNumberScheduled": 0,
                "numberMisscheduled": 0,
                "desiredNumberScheduled": 0,
                "numberReady": 0,
                "observedGeneration": 1,
            },
        ),
        ("autoscaling/v2", "HorizontalPodAutoscaler", {"desiredReplicas": 0}),
    ],
)
def test_a_change_still_writes_zero_required_fields(
    registry, new_object, api_version, kind, written
):
    template = new_object(api_version, kind, status={"observedGeneration": 5})
    assert registry.aggregate(template, [])["status"] == written


class TestWorkloads:
    def test_replica_set_equal_counters_keep_other_fields(self, registry, new_object, new_item):
        template = new_object(
            "apps/v1", "ReplicaSet", status={"replicas": 2, "observedGeneration": 1, "extra": 1}
        )
        status = {"replicas": 2, "generation": 1, "resourceTemplateGeneration": 1}
        assert registry.aggregate(template, [new_item("m1", status)]) == template

    def test_daemon_set_collision_count_zero_is_not_nil(self, registry, new_object, new_item):
        template = new_object("apps/v1", "DaemonSet", status={"collisionCount": 0})
        result = registry.aggregate(template, no_status_yet(new_item))
        assert result["status"] == {
            "collisionCount": 0,
            "currentNumberScheduled": 0,
            "numberMisscheduled": 0,
            "desiredNumberScheduled": 0,
            "numberReady": 0,
        }

    def test_daemon_set_empty_conditions_equal_none(self, registry, new_object, new_item):
        template = new_object("apps/v1", "DaemonSet", status={"conditions": []})
        assert registry.aggregate(template, no_status_yet(new_item)) == template

    def test_deployment_counter_change_is_written(self, registry, new_object, new_item):
        template = new_object("apps/v1", "Deployment", status={})
        member = {"replicas": 1, "generation": 1, "observedGeneration": 1}
        member["resourceTemplateGeneration"] = 1
        result = registry.aggregate(template, [new_item("m1", member)])
        assert result["status"] == {"replicas": 1, "observedGeneration": 1}


class TestLoadBalancers:
    def test_ingress_keeps_empty_list(self, registry, new_object, new_item):
        template = new_object(
            "networking.k8s.io/v1", "Ingress", status={"loadBalancer": {"ingress": []}}
        )
        items = [new_item("m1", {"loadBalancer": {}}), new_item("m2")]
        assert registry.aggregate(template, items) == template

    def test_ingress_without_list_gets_empty_load_balancer(self, registry, new_object, new_item):
        template = new_object("networking.k8s.io/v1", "Ingress", status={})
        result = registry.aggregate(template, [new_item("m1", {"loadBalancer": {}})])
        assert result["status"] == {"loadBalancer": {}}

    def test_service_keeps_empty_list(self, registry, new_object, new_item):
        template = new_object(
            "v1",
            "Service",
            spec={"type": "LoadBalancer"},
            status={"loadBalancer": {"ingress": []}},
        )
        assert registry.aggregate(template, [new_item("m1")]) == template

    def test_service_empty_conditions_are_not_nil(self, registry, new_object, new_item):
        template = new_object(
            "v1",
            "Service",
            spec={"type": "LoadBalancer"},
            status={"loadBalancer": {"ingress": []}, "conditions": []},
        )
        result = registry.aggregate(template, [new_item("m1")])
        assert result["status"] == {"loadBalancer": {}}

    def test_ingress_ports_empty_list_differs_from_none(self, registry, new_object, new_item):
        entry = {"ip": "1.1.1.1", "ports": []}
        template = new_object(
            "networking.k8s.io/v1", "Ingress", status={"loadBalancer": {"ingress": [entry]}}
        )
        items = [new_item("m1", {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}})]
        result = registry.aggregate(template, items)
        assert result["status"] == {"loadBalancer": {"ingress": [{"ip": "1.1.1.1"}]}}


class TestOthers:
    def test_cron_job_same_instant_is_unchanged(self, registry, new_object, new_item):
        template = new_object("batch/v1", "CronJob", status={"lastScheduleTime": T0})
        items = [new_item("m1", {"lastScheduleTime": "2024-05-01T12:00:00+02:00"})]
        assert registry.aggregate(template, items) == template

    def test_job_ready_zero_is_a_pointer(self, registry, new_object, new_item):
        template = new_object("batch/v1", "Job", status={"ready": 0})
        assert registry.aggregate(template, [new_item("m1", {})])["status"] == {}

    def test_pod_needs_a_container_list(self, registry, new_object, new_item):
        template = new_object("v1", "Pod", status={"phase": "Running"})
        result = registry.aggregate(template, [new_item("m1", {"phase": "Running"})])
        assert result["status"] == {"phase": "Running"}
        assert result is not template
        kept = new_object("v1", "Pod", status={"phase": "Running", "containerStatuses": []})
        assert registry.aggregate(kept, [new_item("m1", {"phase": "Running"})]) == kept

    def test_persistent_volume_same_phase_keeps_message(self, registry, new_object, new_item):
        template = new_object("v1", "PersistentVolume", status={"phase": "Bound", "message": ""})
        assert registry.aggregate(template, [new_item("m1", {"phase": "Bound"})]) == template

    def test_persistent_volume_claim_capacity_makes_it_a_change(
        self, registry, new_object, new_item
    ):
        template = new_object(
            "v1", "PersistentVolumeClaim", status={"phase": "Bound", "capacity": {"storage": "1"}}
        )
        result = registry.aggregate(template, [new_item("m1", {"phase": "Bound"})])
        assert result["status"] == {"phase": "Bound"}

    def test_pdb_needs_a_disrupted_pods_map(self, registry, new_object, new_item):
        counters = {"currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
        template = new_object(
            "policy/v1", "PodDisruptionBudget", status={**counters, "disruptionsAllowed": 0}
        )
        result = registry.aggregate(template, [new_item("m1", {})])
        assert result["status"] == {**counters, "disruptionsAllowed": 0}
        assert result is not template

    def test_hpa_observed_generation_pointer_makes_it_a_change(
        self, registry, new_object, new_item
    ):
        template = new_object("autoscaling/v2", "HorizontalPodAutoscaler", status={})
        assert registry.aggregate(template, [new_item("m1")]) == template
        template["status"] = {"observedGeneration": 0}
        assert registry.aggregate(template, [new_item("m1")])["status"] == {"desiredReplicas": 0}


class TestGoEqual:
    @pytest.mark.parametrize(
        ("old", "new", "schema", "semantic", "equal"),
        [
            ({}, {"a": 0, "b": "", "c": False}, Struct(), False, True),
            ({"a": None}, {}, Struct(), False, True),
            ({"a": []}, {}, Struct(), False, False),
            ({"a": []}, {}, Struct(), True, True),
            ({"a": {}}, {}, Struct({"a": Map(None)}), False, False),
            ({"a": {}}, {}, Struct({"a": Struct()}), False, True),
            ({"a": 0}, {}, Struct({"a": Ptr(None)}), False, False),
            ({"a": 1}, {"a": 1}, Struct({"a": Ptr(None)}), False, True),
            ({"t": T0}, {"t": "2024-05-01T11:00:00+01:00"}, Struct({"t": Time}), False, True),
            ({"x": 1}, {}, Struct({"y": None}, closed=True), False, True),
            ({"l": [{"p": None}]}, {"l": [{}]}, Struct({"l": Slice(Struct())}), False, True),
            ({"l": [1, 2]}, {"l": [2, 1]}, Struct(), False, False),
        ],
    )
    def test_rules(self, old, new, schema, semantic, equal):
        assert go_equal(old, new, schema, semantic=semantic) is equal
