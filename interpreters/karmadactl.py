"""What `karmadactl interpret` means by its names, and how it prints a result.

karmadactl matches operation names case-insensitively and runs only the
customizations given with `-f`: an operation they do not define is an error
("rule is not enabled"), not a fall-back to the built-ins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from .errors import InterpreterError
from .model import JSONObject, Layer, Operation
from .registry import Registry

RULES: tuple[tuple[str, str], ...] = (
    ("Retain", "retention"),
    ("InterpretReplica", "replicaResource"),
    ("InterpretComponent", "componentResource"),
    ("ReviseReplica", "replicaRevision"),
    ("InterpretStatus", "statusReflection"),
    ("AggregateStatus", "statusAggregation"),
    ("InterpretHealth", "healthInterpretation"),
    ("InterpretDependency", "dependencyInterpretation"),
)
"""karmadactl's rules in its order: operation name and ResourceInterpreterCustomization field."""

KARMADA_NAMES: Mapping[Operation, str] = {
    Operation.AGGREGATE: "AggregateStatus",
    Operation.REFLECT: "InterpretStatus",
    Operation.HEALTH: "InterpretHealth",
}
RESULT_NAMES: Mapping[Operation, str] = {
    Operation.AGGREGATE: "aggregatedStatus",
    Operation.REFLECT: "status",
    Operation.HEALTH: "healthy",
}
"""The name karmadactl gives each operation's result (and the key of a test case's output)."""

_BY_NAME = {
    **{str(operation): operation for operation in Operation},
    **{name.lower(): operation for operation, name in KARMADA_NAMES.items()},
}


class UnsupportedOperation(ValueError):
    """A karmadactl operation statusagg does not run (Retain, InterpretReplica...)."""


def parse_operation(name: str) -> Operation:
    """statusagg's or karmadactl's name of an operation, in any case."""
    operation = _BY_NAME.get(name.lower())
    if operation is not None:
        return operation
    supported = ", ".join([*map(str, Operation), *KARMADA_NAMES.values()])
    if any(name.lower() == rule.lower() for rule, _ in RULES):
        raise UnsupportedOperation(
            f"operation {name} is not run by statusagg, which runs only status operations: "
            f"{supported}"
        )
    raise ValueError(f"operation {name} is not supported. Use one of: {supported}")


def run_customized(
    registry: Registry, operation: Operation, obj: JSONObject, items: Sequence[Any] | None
) -> Any:
    """Run `operation` as karmadactl does: only a customization's script may serve it."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not any(
        row.layer is Layer.LUA
        and row.operation is operation
        and (row.api_version, row.kind) == (api_version, kind)
        for row in registry.describe()
    ):
        raise InterpreterError("rule is not enabled")
    if operation is Operation.AGGREGATE:
        return registry.aggregate(obj, items)
    if operation is Operation.REFLECT:
        return registry.reflect(obj)
    return registry.health(obj)


def format_result(operation: Operation, value: Any) -> str:
    """karmadactl's output: `---`, `# [1/1] <result name>:` and the value as YAML, keys sorted."""
    body = yaml.safe_dump(value, sort_keys=True, default_flow_style=False, width=1 << 20)
    body = body.removesuffix("...\n")
    return f"---\n# [1/1] {RESULT_NAMES[operation]}:\n{body}"


def format_error(operation: Operation, error: Exception) -> str:
    """karmadactl's message for a failed execution."""
    return f"Execute {KARMADA_NAMES[operation]} error: {error}\n"
