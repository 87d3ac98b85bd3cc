"""The webhook layer in the registry: below customizations, above plugins and built-ins."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from interpreters import (
    HookInfo,
    InterpreterUnavailable,
    Layer,
    Operation,
    RemoteHook,
    Target,
    build_registry,
)

DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}}
WIDGET = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}}


class Webhooks:
    """Serves aggregate for every kind of ``group``, answering with the clusters it saw."""

    def __init__(self, group: str) -> None:
        self.group = group

    def find(self, target: Target, operation: Operation) -> RemoteHook | None:
        if operation is not Operation.AGGREGATE or not target[0].startswith(f"{self.group}/"):
            return None

        async def aggregate(template: dict[str, Any], items: Sequence[Any]) -> dict[str, Any]:
            return template | {"status": {"clusters": [i["clusterName"] for i in items]}}

        return RemoteHook("webhook example", aggregate=aggregate)

    def rules(self) -> list[HookInfo]:
        return [HookInfo(f"{self.group}/*", "*", Operation.AGGREGATE, Layer.WEBHOOK, "example")]


def deployment_ric(field: str, code: str) -> str:
    """A customization of Deployment with one script, as a YAML file holds it."""
    script = "\n".join(f"        {line}" for line in code.strip().splitlines())
    return (
        "apiVersion: config.karmada.io/v1alpha1\n"
        "kind: ResourceInterpreterCustomization\n"
        "metadata: {name: deployments}\n"
        "spec:\n"
        "  target: {apiVersion: apps/v1, kind: Deployment}\n"
        f"  customizations:\n    {field}:\n      luaScript: |\n{script}\n"
    )


RIC = deployment_ric(
    "statusAggregation",
    """
function AggregateStatus(desiredObj, statusItems)
  desiredObj.status = {lua = true}
  return desiredObj
end
""",
)


async def test_a_webhook_serves_kinds_no_customization_serves() -> None:
    registry = build_registry(load_plugins=False)
    assert not registry.supports(Operation.AGGREGATE, "example.io/v1", "Widget")
    registry.set_webhooks(Webhooks("example.io"))
    assert registry.supports(Operation.AGGREGATE, "example.io/v1", "Widget")
    items = [{"clusterName": "m2"}, {"clusterName": "m1"}]
    result = await registry.aggregate_async(WIDGET, items)
    assert result["status"] == {"clusters": ["m1", "m2"]}
    with pytest.raises(InterpreterUnavailable, match="served by interpreter webhook"):
        registry.aggregate(WIDGET, items)
    rows = {(r.api_version, r.kind, r.operation): r.layer for r in registry.describe()}
    assert rows[("example.io/*", "*", Operation.AGGREGATE)] is Layer.WEBHOOK
    registry.set_webhooks(None)
    assert not registry.supports(Operation.AGGREGATE, "example.io/v1", "Widget")


async def test_customizations_come_before_webhooks_and_webhooks_before_native(
    tmp_path: Path,
) -> None:
    (tmp_path / "ric.yaml").write_text(RIC)
    registry = build_registry(load_plugins=False)
    registry.set_webhooks(Webhooks("apps"))
    try:
        result = await registry.aggregate_async(DEPLOYMENT, [{"clusterName": "m1"}])
        assert result["status"] == {"clusters": ["m1"]}  # not the native sum
        rows = {(r.api_version, r.kind, r.operation): r for r in registry.describe()}
        assert rows[("apps/v1", "Deployment", Operation.AGGREGATE)].layer is Layer.WEBHOOK
        assert rows[("apps/v1", "Deployment", Operation.REFLECT)].layer is Layer.BUILTIN

        with_ric = build_registry([tmp_path / "ric.yaml"], load_plugins=False)
        with_ric.set_webhooks(Webhooks("apps"))
        try:
            result = await with_ric.aggregate_async(DEPLOYMENT, [{"clusterName": "m1"}])
            assert result["status"] == {"lua": True}
            rows = {(r.api_version, r.kind, r.operation): r for r in with_ric.describe()}
            assert rows[("apps/v1", "Deployment", Operation.AGGREGATE)].layer is Layer.LUA
        finally:
            with_ric.close()
    finally:
        registry.close()


class MemberWebhooks:
    """Serves reflect and health for every kind of ``group``, as an agent's layer does."""

    def __init__(self, group: str, *, unavailable: bool = False) -> None:
        self.group = group
        self.unavailable = unavailable

    def find(self, target: Target, operation: Operation) -> RemoteHook | None:
        if not target[0].startswith(f"{self.group}/"):
            return None

        def reflect(obj: dict[str, Any]) -> dict[str, Any] | None:
            if self.unavailable:
                raise InterpreterUnavailable("no answer within 1s")
            return {"fromWebhook": True}

        if operation is Operation.REFLECT:
            return RemoteHook("member webhook", reflect=reflect)
        if operation is Operation.HEALTH:
            return RemoteHook("member webhook", health=lambda obj: False)
        return None

    def rules(self) -> list[HookInfo]:
        return [
            HookInfo(f"{self.group}/*", "*", operation, Layer.WEBHOOK, "member webhook")
            for operation in (Operation.REFLECT, Operation.HEALTH)
        ]


REFLECT_RIC = deployment_ric(
    "statusReflection", "function ReflectStatus(observedObj)\n  return {lua = true}\nend"
)


def test_member_webhooks_reflect_and_judge_below_customizations(tmp_path: Path) -> None:
    member = DEPLOYMENT | {"status": {"readyReplicas": 1}}
    registry = build_registry(load_plugins=False)
    registry.set_webhooks(MemberWebhooks("apps"))
    assert registry.reflect(member) == {"fromWebhook": True}  # not the native reflection
    assert registry.health(member) is False
    assert registry.reflect(WIDGET | {"status": {"a": 1}}) == {"a": 1}  # not matched: native
    registry.close()

    (tmp_path / "ric.yaml").write_text(REFLECT_RIC)
    with_ric = build_registry([tmp_path / "ric.yaml"], load_plugins=False)
    with_ric.set_webhooks(MemberWebhooks("apps"))
    try:
        assert with_ric.reflect(member) == {"lua": True}
        assert with_ric.health(member) is False  # the customization has no health script
        rows = {(r.api_version, r.kind, r.operation): r.layer for r in with_ric.describe()}
        assert rows[("apps/v1", "Deployment", Operation.REFLECT)] is Layer.LUA
        assert rows[("apps/v1", "Deployment", Operation.HEALTH)] is Layer.WEBHOOK
    finally:
        with_ric.close()


def test_a_webhook_that_may_answer_later_stays_unavailable_through_the_registry() -> None:
    registry = build_registry(load_plugins=False)
    registry.set_webhooks(MemberWebhooks("apps", unavailable=True))
    with pytest.raises(InterpreterUnavailable, match=r"reflect Deployment\(d\): no answer"):
        registry.reflect(DEPLOYMENT)
    registry.close()
