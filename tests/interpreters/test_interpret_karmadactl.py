"""`statusagg interpret` as a drop-in for `karmadactl interpret`: flags, --check, --test."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from interpreters.tabwriter import align
from tests.interpreters.karmada_corpus import corpus_root
from tests.interpreters.test_interpret_cli import run

FIXTURE = Path(__file__).parent / "testdata" / "example.io" / "v1" / "Widget"
CUSTOMIZATION = FIXTURE / "customizations.yaml"
WIDGET = "apiVersion: example.io/v1\nkind: Widget\nmetadata: {name: w, generation: 2}\n"
STATUS_ITEMS = (
    "clusterName: member2\nstatus: {ready: 3}\napplied: true\n---\n"
    "clusterName: member1\nstatus: {ready: 2}\napplied: true\n"
)


def stdin(monkeypatch, text):
    monkeypatch.setattr("sys.stdin", io.StringIO(text))


@pytest.fixture
def widget(tmp_path):
    path = tmp_path / "widget.yaml"
    path.write_text(WIDGET)
    return path


class TestExecute:
    def test_aggregate_status_with_items_from_stdin(self, widget, monkeypatch, capsys):
        stdin(monkeypatch, STATUS_ITEMS)
        argv = ["-f", str(CUSTOMIZATION), "--operation", "aggregateStatus"]
        assert run(*argv, "--observed-file", str(widget), "--status-file", "-") == 0
        assert capsys.readouterr().out == (
            "---\n"
            "# [1/1] aggregatedStatus:\n"
            "apiVersion: example.io/v1\n"
            "kind: Widget\n"
            "metadata:\n"
            "  generation: 2\n"
            "  name: w\n"
            "status:\n"
            "  observedGeneration: 2\n"
            "  ready: 5\n"
        )

    @pytest.mark.parametrize("name", ["interpretHealth", "INTERPRETHEALTH", "health"])
    def test_operation_names_any_case(self, tmp_path, name, capsys):
        obj = tmp_path / "w.yaml"
        obj.write_text(WIDGET + "spec: {size: 1}\nstatus: {ready: 1}\n")
        argv = ["-f", str(CUSTOMIZATION), "--operation", name, "--desired-file", str(obj)]
        assert run(*argv) == 0
        assert capsys.readouterr().out == "---\n# [1/1] healthy:\ntrue\n"

    def test_object_from_stdin_and_json_output(self, monkeypatch, capsys):
        stdin(monkeypatch, WIDGET + "status: {ready: 4}\n")
        argv = ["-f", str(CUSTOMIZATION), "--operation", "InterpretStatus"]
        assert run(*argv, "--observed-file", "-", "--output", "json") == 0
        assert capsys.readouterr().out == '{\n  "ready": 4\n}\n'

    def test_customization_from_stdin(self, widget, monkeypatch, capsys):
        stdin(monkeypatch, CUSTOMIZATION.read_text())
        argv = ["-f", "-", "--operation", "aggregateStatus", "--desired-file", str(widget)]
        assert run(*argv) == 0
        assert "  ready: 0\n" in capsys.readouterr().out

    def test_only_the_given_customization_serves(self, tmp_path, capsys):
        deployment = tmp_path / "deploy.yaml"
        deployment.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n")
        argv = ["-f", str(CUSTOMIZATION), "--operation", "interpretHealth"]
        assert run(*argv, "--observed-file", str(deployment)) == 1
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == "Execute InterpretHealth error: rule is not enabled\n"

    def test_without_f_the_built_ins_still_serve(self, tmp_path, capsys):
        deployment = tmp_path / "deploy.yaml"
        deployment.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n")
        assert run("--operation", "interpretHealth", "--observed-file", str(deployment)) == 0
        assert capsys.readouterr().out == "---\n# [1/1] healthy:\ntrue\n"

    def test_items_dash_reads_stdin(self, widget, monkeypatch, capsys):
        stdin(monkeypatch, "[{clusterName: a, status: {ready: 7}}]\n")
        argv = ["--customization", str(CUSTOMIZATION), "--operation", "aggregate"]
        assert run(*argv, "--object", str(widget), "--items", "-", "--output", "json") == 0
        assert '"ready": 7' in capsys.readouterr().out

    def test_stdin_only_once(self, monkeypatch, capsys):
        stdin(monkeypatch, WIDGET)
        argv = ["-f", str(CUSTOMIZATION), "--operation", "aggregateStatus"]
        assert run(*argv, "--desired-file", "-", "--status-file", "-") == 1
        assert "only one input can be read from stdin" in capsys.readouterr().err

    def test_operation_statusagg_does_not_run(self, widget, capsys):
        argv = ["-f", str(CUSTOMIZATION), "--operation", "retain", "--desired-file", str(widget)]
        assert run(*argv) == 2
        assert "operation retain is not run by statusagg" in capsys.readouterr().err

    def test_unknown_operation(self, widget, capsys):
        assert run("--operation", "prune", "--object", str(widget)) == 2
        assert "operation prune is not supported. Use one of: aggregate" in capsys.readouterr().err

    def test_one_object_only(self, widget, capsys):
        argv = ["--operation", "health", "--desired-file", str(widget)]
        assert run(*argv, "--observed-file", str(widget)) == 2
        assert "only one of --object, --desired-file, --observed-file" in capsys.readouterr().err


CHECKED = """\
apiVersion: config.karmada.io/v1alpha1
kind: ResourceInterpreterCustomization
metadata: {name: customization-check}
spec:
  target: {apiVersion: apps/v1, kind: Deployment}
  customizations:
    retention:
      luaScript: |
        function Retain(desiredObj, runtimeObj) return desiredObj end
    replicaResource:
      luaScript: bad format
---
apiVersion: v1
kind: Pod
metadata: {name: not-customization}
---
apiVersion: config.karmada.io/v1alpha1
kind: ResourceInterpreterCustomization
metadata: {name: all-unset}
spec:
  target: {}
  customizations:
    healthInterpretation:
      luaScript: "function InterpretHealth(obj) return end end"
"""
RULES_UNSET_FROM_STATUS = (
    "    InterpretComponent:      UNSET\n"
    "    ReviseReplica:           UNSET\n"
    "    InterpretStatus:         UNSET\n"
    "    AggregateStatus:         UNSET\n"
)


class TestCheck:
    def test_every_problem_of_every_document(self, tmp_path, capsys):
        path = tmp_path / "ric.yaml"
        path.write_text(CHECKED)
        broken = tmp_path / "broken.yaml"
        broken.write_text("kind: [\n")
        assert run("-f", str(path), "-f", str(broken), "--check") == 1
        out = capsys.readouterr().out
        assert (
            out
            == (
                "-----------------------------------\n"
                "SOURCE: customization-check\n"
                "TARGET: apps/v1 Deployment   \n"
                "RULERS:\n"
                "    Retain:                  PASS\n"
                "    InterpretReplica:        ERROR: replicaResource:1: "
                "'=' expected near 'format'   \n"
                + RULES_UNSET_FROM_STATUS
                + "    InterpretHealth:         UNSET\n"
                "    InterpretDependency:     UNSET\n"
                "-----------------------------------\n"
                "SOURCE: not-customization\n"
                "not a ResourceInterpreterCustomization, got /v1, Kind=Pod\n"
                "-----------------------------------\n"
                "SOURCE: all-unset\n"
                "target.kind no set\n"
                "target.apiVersion no set\n"
                "RULERS:\n"
                "    Retain:                  UNSET\n"
                "    InterpretReplica:        UNSET\n"
                + RULES_UNSET_FROM_STATUS
                + "    InterpretHealth:         ERROR: healthInterpretation:1: '<eof>' expected near 'end'   \n"  # noqa: E501
                "    InterpretDependency:     UNSET\n"
                "-----------------------------------\n"
                f"SOURCE: {broken}\n" + out.split(f"SOURCE: {broken}\n")[1]
            )
        )
        assert out.split(f"SOURCE: {broken}\n")[1].startswith(f"error parsing {broken}: ")

    def test_customization_that_passes(self, capsys):
        assert run("-f", str(CUSTOMIZATION), "--check") == 0
        out = capsys.readouterr().out
        assert out.startswith("-----------------------------------\nSOURCE: widget\n")
        assert "    Retain:                    PASS\n" in out
        assert "ERROR" not in out

    def test_missing_file_is_reported(self, tmp_path, capsys):
        assert run("-f", str(tmp_path / "absent.yaml"), "--check") == 1
        assert "No such file" in capsys.readouterr().out

    def test_needs_a_file(self, capsys):
        assert run("--check") == 2


def test_tab_columns_never_shrink():
    text = "TARGET: a long target\t\nRULERS:\n  a:\tPASS\n  bb:\tERROR: x\t\n"
    assert align(text) == (
        "TARGET: a long target   \nRULERS:\n"
        "  a:                    PASS\n"
        "  bb:                   ERROR: x   \n"
    )


class TestRunner:
    def test_fixture_passes(self, capsys):
        assert run("--test", str(FIXTURE.parent.parent.parent)) == 0
        out = capsys.readouterr().out
        assert out.count("PASS  ") == 5
        assert "SKIP  " in out
        assert out.endswith("5 passed, 0 failed, 1 skipped\n")

    def test_wrong_expectation_fails(self, tmp_path, capsys):
        copy = tmp_path / "Widget"
        shutil.copytree(FIXTURE, copy)
        test_file = copy / "testdata" / "interprethealth-test.yaml"
        test_file.write_text(test_file.read_text().replace("healthy: false", "healthy: true"))
        assert run("--test", str(copy)) == 1
        out = capsys.readouterr().out
        assert "FAIL  " in out
        assert "fewer ready than size" in out
        assert "healthy: expected\n      true\n      got\n      false\n" in out
        assert out.endswith("4 passed, 1 failed, 1 skipped\n")

    def test_unknown_output_key_fails(self, tmp_path, capsys):
        copy = tmp_path / "Widget"
        shutil.copytree(FIXTURE, copy)
        test_file = copy / "testdata" / "interpretstatus-test.yaml"
        text = test_file.read_text().replace("output:\n  status:", "output:\n  statuss:")
        test_file.write_text(text)
        assert run("--test", str(copy)) == 1
        assert "output keys not in the result: ['statuss']" in capsys.readouterr().out

    def test_legacy_customizations_tests_file(self, tmp_path, capsys):
        copy = tmp_path / "Widget"
        copy.mkdir()
        shutil.copy(CUSTOMIZATION, copy)
        (copy / "desired.yaml").write_text(WIDGET)
        (copy / "status.yaml").write_text(STATUS_ITEMS)
        (copy / "customizations_tests.yaml").write_text(
            "tests:\n"
            "  - desiredInputPath: desired.yaml\n"
            "    statusInputPath: status.yaml\n"
            "    operation: AggregateStatus\n"
            "  - observedInputPath: desired.yaml\n"
            "    operation: InterpretHealth\n"
            "  - observedInputPath: desired.yaml\n"
            "    operation: ReviseReplica\n"
        )
        assert run("--test", str(copy)) == 1
        out = capsys.readouterr().out
        assert "PASS  " in out
        assert "#1 AggregateStatus" in out
        assert "#2 InterpretHealth" in out
        assert "FAIL  " in out
        assert out.endswith("1 passed, 1 failed, 1 skipped\n")

    def test_no_customization_found(self, tmp_path, capsys):
        assert run("--test", str(tmp_path)) == 1
        assert "no customizations.yaml found" in capsys.readouterr().out


def test_karmada_corpus(capsys):
    root = corpus_root()
    if not root.is_dir():
        pytest.skip(f"Karmada corpus not found at {root}")
    assert run("--test", str(root)) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("FAIL  ")] == []
    assert out.count("\nPASS  ") > 300
