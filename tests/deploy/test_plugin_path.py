"""The chart's plugin story: plugins installed with ``pip install --target`` into a directory on
PYTHONPATH (what the init container of ci/plugins-values.yaml copies) are found by ``serve``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "examples" / "statusagg-example-plugin"
VALUES = ROOT / "deploy" / "charts" / "statusagg" / "ci" / "plugins-values.yaml"


def kinds(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "aggregator.cli", "interpret", "--list"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_plugins_on_the_values_pythonpath_are_loaded(tmp_path: Path) -> None:
    values = yaml.safe_load(VALUES.read_text())
    path = next(e["value"] for e in values["extraEnv"] if e["name"] == "PYTHONPATH")
    assert path in [m["mountPath"] for m in values["extraVolumeMounts"]]
    plugins = tmp_path / path.lstrip("/")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run([*pip, "--target", str(plugins), str(PLUGIN)], check=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    assert "Widget" not in kinds(env)
    listed = kinds({**env, "PYTHONPATH": str(plugins)})
    assert "plugin 'widget' (statusagg_example_plugin:WidgetInterpreter)" in listed
