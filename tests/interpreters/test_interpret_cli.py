"""`statusagg interpret` in single, batch and list modes."""

from __future__ import annotations

import argparse
import io
import json

import pytest
import yaml

from interpreters import cli

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "default",
        "generation": 2,
        "annotations": {"resourcetemplate.karmada.io/generation": "2"},
    },
    "status": {"replicas": 2, "readyReplicas": 2, "observedGeneration": 2},
}
ITEMS = [
    {
        "clusterName": "member2",
        "applied": True,
        "status": {
            "replicas": 1,
            "observedGeneration": 2,
            "generation": 2,
            "resourceTemplateGeneration": 2,
        },
    },
    {
        "clusterName": "member1",
        "applied": True,
        "status": {
            "replicas": 2,
            "observedGeneration": 2,
            "generation": 2,
            "resourceTemplateGeneration": 2,
        },
    },
]


def run(*argv):
    parser = argparse.ArgumentParser(prog="statusagg")
    cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["interpret", "--no-plugins", *argv])
    return args.func(args)


@pytest.fixture
def files(tmp_path):
    obj = tmp_path / "deployment.yaml"
    obj.write_text(yaml.safe_dump(DEPLOYMENT))
    items = tmp_path / "items.json"
    items.write_text(json.dumps(ITEMS))
    return obj, items


class TestSingle:
    def test_aggregate_yaml(self, files, capsys):
        obj, items = files
        assert run("--operation", "aggregate", "--object", str(obj), "--items", str(items)) == 0
        result = yaml.safe_load(capsys.readouterr().out)
        assert result["status"] == {"replicas": 3, "observedGeneration": 2}
        assert result["metadata"] == DEPLOYMENT["metadata"]

    def test_items_one_per_document(self, files, tmp_path, capsys):
        obj, _ = files
        items = tmp_path / "items.yaml"
        items.write_text(yaml.safe_dump_all(ITEMS))
        assert (
            run(
                "--operation",
                "aggregate",
                "--object",
                str(obj),
                "--items",
                str(items),
                "--output",
                "json",
            )
            == 0
        )
        assert json.loads(capsys.readouterr().out)["status"]["replicas"] == 3

    def test_reflect_json(self, files, capsys):
        obj, _ = files
        assert run("--operation", "reflect", "--object", str(obj), "--output", "json") == 0
        assert json.loads(capsys.readouterr().out) == {
            "generation": 2,
            "resourceTemplateGeneration": 2,
            "replicas": 2,
            "readyReplicas": 2,
            "observedGeneration": 2,
        }

    def test_health(self, files, capsys):
        obj, _ = files
        assert run("--operation", "health", "--object", str(obj), "--output", "json") == 0
        assert capsys.readouterr().out.strip() == "true"

    def test_customization(self, tmp_path, write_ric, ric, capsys):
        path = write_ric(ric(healthInterpretation="function InterpretHealth(obj) return false end"))
        obj = tmp_path / "widget.yaml"
        obj.write_text("apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w}\n")
        assert run("--operation", "health", "--object", str(obj), "--customization", str(path)) == 0
        assert capsys.readouterr().out == "false\n"

    def test_interpreter_error_exits_1(self, tmp_path, capsys):
        obj = tmp_path / "bad.yaml"
        obj.write_text(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nstatus: {replicas: 1}\n"
        )
        assert run("--operation", "reflect", "--object", str(obj)) == 1
        assert (
            "annotation resourcetemplate.karmada.io/generation is missing"
            in capsys.readouterr().err
        )

    def test_unknown_kind_exits_1(self, tmp_path, capsys):
        obj = tmp_path / "cm.yaml"
        obj.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
        assert run("--operation", "aggregate", "--object", str(obj)) == 1
        assert "no aggregate interpreter for v1 ConfigMap" in capsys.readouterr().err

    def test_missing_file_exits_1(self, tmp_path, capsys):
        assert run("--operation", "health", "--object", str(tmp_path / "absent.yaml")) == 1
        assert "No such file" in capsys.readouterr().err

    def test_missing_arguments_exit_2(self, capsys):
        assert run("--operation", "health") == 2
        assert "--operation and --object are required" in capsys.readouterr().err

    def test_bad_customization_exits_2(self, tmp_path, capsys):
        bad = tmp_path / "ric.yaml"
        bad.write_text("kind: ConfigMap\n")
        assert run("--list", "--customization", str(bad)) == 2
        assert "is not a ResourceInterpreterCustomization" in capsys.readouterr().err


class TestBatch:
    def test_one_line_per_input_in_order(self, monkeypatch, capsys):
        lines = [
            json.dumps({"op": "aggregate", "object": DEPLOYMENT, "items": ITEMS}),
            "",
            "{not json",
            "[" * 100000,
            json.dumps({"op": "reflect", "object": DEPLOYMENT}),
            json.dumps(["not", "an", "object"]),
            json.dumps({"op": "health", "object": DEPLOYMENT}),
            json.dumps({"op": "prune", "object": DEPLOYMENT}),
            json.dumps({"op": "health", "object": {"apiVersion": "batch/v1", "kind": "Job"}}),
            json.dumps(
                {
                    "op": "aggregate",
                    "object": DEPLOYMENT,
                    "items": [{"clusterName": "m", "status": "x"}],
                }
            ),
            json.dumps({"op": "aggregate", "object": DEPLOYMENT, "items": {"a": 1}}),
            json.dumps({"op": "reflect", "object": None}),
        ]
        monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n"))
        assert run("--batch") == 0
        responses = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert len(responses) == 11
        deep = responses.pop(2)
        assert deep["ok"] is False
        assert deep["error"].startswith("invalid JSON")
        assert responses[0]["ok"] is True
        assert responses[0]["result"]["status"]["replicas"] == 3
        assert responses[1] == {"ok": False, "error": responses[1]["error"]}
        assert responses[1]["error"].startswith("invalid JSON")
        assert responses[2]["result"]["resourceTemplateGeneration"] == 2
        assert responses[3] == {"ok": False, "error": "each line must be a JSON object"}
        assert responses[4] == {"ok": True, "result": True}
        assert "op must be one of aggregate, reflect, health" in responses[5]["error"]
        assert responses[6] == {"ok": True, "result": None}
        assert "item m: status must be an object" in responses[7]["error"]
        assert responses[8] == {"ok": False, "error": "items must be a list"}
        assert responses[9] == {"ok": False, "error": "object must be a JSON object"}

    def test_integers_stay_integers(self, monkeypatch, capsys):
        request = {"op": "aggregate", "object": DEPLOYMENT, "items": ITEMS}
        monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(request) + "\n"))
        run("--batch")
        assert '"replicas":3' in capsys.readouterr().out


def test_list(capsys):
    assert run("--list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["APIVERSION", "KIND", "OPERATION", "LAYER", "SOURCE"]
    assert any(
        line.split()[:4] == ["apps/v1", "Deployment", "aggregate", "native"] for line in lines
    )
    assert any(line.split()[:4] == ["*", "*", "reflect", "native"] for line in lines)
