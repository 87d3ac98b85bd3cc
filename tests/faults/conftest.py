"""Fault-test plumbing: the ``--soak`` switch, workload sizes, and the session's fault summary
(``fault-report.json`` and ``fault-report.md``, also printed at the end of the run)."""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.faults.report import FaultRecord, FaultReport

REPORT_KEY = pytest.StashKey[FaultReport]()
CALL_PASSED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="run the fault tests with bigger and longer workloads (also STATUSAGG_SOAK=1)",
    )


def soak_enabled(config: pytest.Config) -> bool:
    option = bool(getattr(config.option, "soak", False))
    return option or os.environ.get("STATUSAGG_SOAK", "") not in ("", "0", "false")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[REPORT_KEY] = FaultReport(soak=soak_enabled(config))


@dataclass(frozen=True)
class Scale:
    """Workload sizes: small enough for CI by default, bigger with ``--soak``."""

    soak: bool
    resources: int
    rounds: int
    drops: int
    refusals: int
    flaps: int
    bumps: int
    restarts: int


@pytest.fixture(scope="session")
def scale(pytestconfig: pytest.Config) -> Scale:
    if soak_enabled(pytestconfig):
        return Scale(
            soak=True,
            resources=150,
            rounds=100,
            drops=60,
            refusals=15,
            flaps=60,
            bumps=3000,
            restarts=6,
        )
    return Scale(
        soak=False, resources=20, rounds=12, drops=6, refusals=2, flaps=8, bumps=150, restarts=1
    )


@pytest.fixture(scope="session")
def fault_report(pytestconfig: pytest.Config) -> FaultReport:
    return pytestconfig.stash[REPORT_KEY]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_PASSED_KEY] = report.passed
    return report


@pytest.fixture
def fault(request: pytest.FixtureRequest, fault_report: FaultReport) -> Iterator[FaultRecord]:
    """The record of this fault test; it counts as survived when the test body passed."""
    record = FaultRecord(test=request.node.nodeid)
    yield record
    record.survived = request.node.stash.get(CALL_PASSED_KEY, False)
    fault_report.faults.append(record)


def _report_dir(config: pytest.Config) -> Path:
    configured = os.environ.get("STATUSAGG_FAULT_REPORT_DIR")
    return Path(configured) if configured else config.rootpath / "build"


def pytest_sessionfinish(session: pytest.Session) -> None:
    report = session.config.stash.get(REPORT_KEY, None)
    if report is None or report.empty():
        return
    report.write(_report_dir(session.config))


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    report = config.stash.get(REPORT_KEY, None)
    if report is None or report.empty():
        return
    terminalreporter.section("fault summary")
    terminalreporter.write(report.markdown())
    directory = _report_dir(config)
    terminalreporter.write_line(
        f"written to {directory / 'fault-report.json'} and {directory / 'fault-report.md'}"
    )
