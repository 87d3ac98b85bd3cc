"""The benchmark suite on a tiny matrix against the real local kube-apiserver.

Behaviour only (what the API server counted, what the templates ended with, the report's
shape), never wall time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aggregator.bench.report import pictures, write
from aggregator.bench.scenarios import TINY, build
from aggregator.bench.suite import run_suite
from aggregator.bench.variants import KARMADA_BURST, KARMADA_QPS, all_variants
from aggregator.devcluster import LocalAPIServer

# the matrix (64 runs, each with set-up and clean-up) is built once for the module
pytestmark = pytest.mark.timeout(900)

SCENARIOS = ["unchanged", "spam", "burst", "fleet"]
ROUNDS = 2
QUIET = SCENARIOS
# every strategy, both settings where it has two; cache_first/equal is karmada/equal's twin
VARIANTS = [v for v in all_variants(quick=True) if v.name != "cache_first/equal"]
STATS = ("median", "q1", "q3")


@pytest.fixture(scope="module")
async def results(apiserver: LocalAPIServer) -> dict[str, Any]:
    return await run_suite(
        apiserver.kubeconfig,
        TINY,
        build(TINY, SCENARIOS),
        VARIANTS,
        command="pytest tests/bench",
        rounds=ROUNDS,
        seed=7,
        apiserver_pid=apiserver.pid,
        ingest_batches=(1, 10, 1000),
    )


def test_every_cell_is_repeated_and_summarised(results: dict[str, Any], tmp_path: Path) -> None:
    assert "karmada_full/defaults" not in [v.name for v in all_variants(quick=True)]
    names = [v.name for v in VARIANTS]
    assert list(results["scenarios"]) == SCENARIOS
    assert len(results["order"]) == len(SCENARIOS) * len(names) * ROUNDS
    for section in results["scenarios"].values():
        assert list(section["variants"]) == names
        assert section["effective_changes"] > 0
        assert section["limit_puts_per_s"]["samples"] == ROUNDS
        for cell in section["variants"].values():
            assert sorted(run["round"] for run in cell["runs"]) == list(range(ROUNDS))
            for stat in STATS:
                assert cell[stat].keys() >= {"requests_per_change", "converge_s", "cpu_s"}
            assert cell["q1"]["converge_s"] <= cell["median"]["converge_s"]
            assert cell["median"]["converge_s"] <= cell["q3"]["converge_s"]
            assert cell["converge_vs_limit"]["samples"] == ROUNDS
            assert all(verb not in ("WATCH", "LIST") for verb in cell["api_requests"])
        assert set(section["vs_best_baseline"]) == {"equal", "defaults"}
        assert section["vs_best_baseline"]["equal"]["best_baseline"].endswith("/equal")
    write(results, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {"bench.json", "bench.md", *pictures(results)}
    assert "| statusagg/tuned | 32 | none |" in (tmp_path / "bench.md").read_text()


def test_rounds_run_in_a_different_order(results: dict[str, Any]) -> None:
    per_round = len(results["order"]) // ROUNDS
    first = [step.rsplit(" #", 1)[0] for step in results["order"][:per_round]]
    second = [step.rsplit(" #", 1)[0] for step in results["order"][per_round:]]
    assert sorted(first) == sorted(second)
    assert first != second


def test_every_run_ends_with_the_offline_aggregate(results: dict[str, Any]) -> None:
    wrong = [
        f"{scenario}/{variant}"
        for scenario, section in results["scenarios"].items()
        for variant, cell in section["variants"].items()
        if not cell["correct"]
    ]
    assert wrong == []
    assert not [f for f in results["ci_failures"] if "expected status" in f]


def test_strategies_run_in_processes_of_their_own(results: dict[str, Any]) -> None:
    for section in results["scenarios"].values():
        for name in ("statusagg/tuned", "karmada/equal"):
            run = section["variants"][name]["runs"][0]
            assert run["cpu_s"] > 0
            assert run["peak_rss_mb"] > 0
            assert run["observer_cpu_s"] > 0


@pytest.mark.parametrize("scenario", QUIET)
def test_statusagg_makes_no_conflict_and_no_extra_status_write(
    results: dict[str, Any], scenario: str
) -> None:
    section = results["scenarios"][scenario]
    for name in ("statusagg/defaults", "statusagg/tuned"):
        cell = section["variants"][name]
        assert cell["conflicts_max"] == 0
        if scenario != "fleet":  # fleet's waves are folded: fewer writes than changes
            assert cell["median"]["status_writes"] <= 1.1 * section["effective_changes"], cell


def test_karmada_at_defaults_keeps_to_its_client_limit(results: dict[str, Any]) -> None:
    for section in results["scenarios"].values():
        for run in section["variants"]["karmada/defaults"]["runs"]:
            allowed = KARMADA_BURST + KARMADA_QPS * run["measured_s"] + 1
            assert run["requests"] <= allowed, run


def test_karmadas_whole_path_writes_works_and_bindings(results: dict[str, Any]) -> None:
    section = results["scenarios"]["burst"]
    full = section["variants"]["karmada_full/equal"]["median"]
    template_step = section["variants"]["karmada/equal"]["median"]
    # one Work status write per changed member item, at least one binding write per template
    assert full["karmada_writes"] >= section["reports"] + section["resources"]
    assert template_step["karmada_writes"] == 0
    # a binding event and a template event per binding and template write
    assert full["event_writes"] >= 2 * section["resources"]
    assert full["requests_per_change"] > template_step["requests_per_change"]


def test_unchanged_reports_cost_the_naive_writer_a_put_each(results: dict[str, Any]) -> None:
    section = results["scenarios"]["unchanged"]
    run = section["variants"]["naive/equal"]["median"]
    assert run["status_writes"] >= section["reports"]


def test_ingest_is_swept_over_batch_sizes(results: dict[str, Any]) -> None:
    batches = results["ingest"]["batches"]
    assert [b["batch"] for b in batches] == [1, 10, 1000]
    for batch in batches:
        assert batch["items"] > 0
        assert batch["unchanged_per_s"] > 0
        assert batch["changed_per_s"] > 0
        assert batch["changed_cpu_s"] > 0
    assert results["memory"]["items"] == results["ingest"]["items"] > 0


def test_docs_parts_are_generated_from_bench_json(results: dict[str, Any], tmp_path: Path) -> None:
    from aggregator.bench.docs import BEGIN, END, MarkersMissing, update_docs

    (tmp_path / "docs").mkdir()
    readme, benchmarks = tmp_path / "README.md", tmp_path / "docs" / "benchmarks.md"
    table = f"{BEGIN.format(name='table')}\nold table\n{END.format(name='table')}"
    figures = f"{BEGIN.format(name='figures')}\nold figures\n{END.format(name='figures')}"
    readme.write_text(f"# intro\n\n{table}\n\n## after\n")
    benchmarks.write_text(f"# Benchmarks\n\n{figures}\n")
    write(results, tmp_path / "out")
    written = update_docs(results, tmp_path, tmp_path / "out")
    assert tmp_path / "docs" / "img" / "bench-burst.png" in written
    text = readme.read_text()
    assert text.startswith("# intro\n")
    assert text.endswith("## after\n")
    assert "old table" not in text
    assert "| burst (60 x 3) |" in text
    text = benchmarks.read_text()
    assert "old figures" not in text
    assert "### fleet" in text
    assert "| statusagg/defaults | 8 | 200/400 |" in text
    readme.write_text("# no markers\n")
    with pytest.raises(MarkersMissing):
        update_docs(results, tmp_path)
