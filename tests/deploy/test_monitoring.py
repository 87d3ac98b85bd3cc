"""The chart's dashboard and alerts use only metrics and labels a running service exposes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from tests.metrics_traffic import serve_with_traffic

MONITORING = Path(__file__).resolve().parents[2] / "deploy/charts/statusagg/files/monitoring"
# labels Prometheus adds to every series from the scraped target (ServiceMonitor defaults)
TARGET_LABELS = {"job", "instance", "namespace", "pod", "service", "container", "endpoint"}
# Grafana variables, replaced by a value before an expression is parsed
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
LABEL_VALUES = re.compile(r"^label_values\((.+),\s*\w+\)$")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
}


def alert_expressions() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load((MONITORING / "alerts.yaml").read_text())["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", rule["expr"]


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            match = LABEL_VALUES.match(variable["query"]["query"])
            assert match, f"variable {variable['name']}: not label_values(<selector>, <label>)"
            yield f"variable {variable['name']}", match.group(1)
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            yield f"panel {panel['title']!r} {target['refId']}", expr


EXPRESSIONS = [*alert_expressions(), *dashboard_expressions()]


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """The metric name and matched label names of every selector in a PromQL expression."""
    found: list[tuple[str, set[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"a selector without a metric name in {expr}"
            found.append((node.name, {m.name for m in node.matchers.matchers}))

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


@pytest.fixture
async def exposed(
    apiserver: LocalAPIServer, kube: KubeClient, namespace: str
) -> AsyncIterator[dict[str, set[str]]]:
    """Series name -> label names, from the metric families a service with traffic exposes
    (a labelled family is listed even before its first sample)."""
    async for _, text in serve_with_traffic(apiserver, kube, namespace):
        names: dict[str, set[str]] = {}
        for family in text_string_to_metric_families(text):
            labels = {label for sample in family.samples for label in sample.labels}
            for suffix in SUFFIXES.get(family.type, ("",)):
                names[family.name + suffix] = labels - {"le", "quantile"}
            for sample in family.samples:
                names.setdefault(sample.name, set()).update(sample.labels)
        yield names


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_every_expression_parses(where: str, expr: str) -> None:
    assert selectors(expr), f"{where}: no metric in {expr}"


async def test_every_metric_and_label_is_exposed(exposed: dict[str, set[str]]) -> None:
    assert {where.split()[0] for where, _ in EXPRESSIONS} == {"alert", "variable", "panel"}
    missing = []
    for where, expr in EXPRESSIONS:
        for name, labels in selectors(expr):
            if name not in exposed:
                missing.append(f"{where}: metric {name}")
                continue
            unknown = labels - exposed[name] - TARGET_LABELS - {"__name__"}
            if unknown and exposed[name]:
                missing.append(f"{where}: {name} has no label {sorted(unknown)}")
    assert not missing, "\n".join(missing)
