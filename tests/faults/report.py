"""The fault summary: what each fault test injected, whether the service survived it, how many
updates were lost, and what the fuzz test threw at the service."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tests.helpers import eventually

Figure = int | float | str


@dataclass
class FaultRecord:
    """One fault test. The test fills in the figures; the fixture sets ``survived``."""

    test: str
    name: str = ""
    injected: int = 0
    survived: bool = False
    lost_updates: int | None = None
    figures: dict[str, Figure] = field(default_factory=dict)

    async def converge(
        self, lost: Callable[[], Awaitable[Sequence[object]]], *, within: float = 90.0
    ) -> None:
        """Wait until ``lost()`` is empty; record how many updates were still lost at the end."""

        missing: Sequence[object] = ()

        async def none_lost() -> bool:
            nonlocal missing
            missing = await lost()
            self.lost_updates = len(missing)
            return not missing

        try:
            await eventually(none_lost, within=within, interval=0.1)
        except AssertionError:
            raise AssertionError(
                f"{len(missing)} updates still lost after {within:.0f}s: {list(missing)[:10]}"
            ) from None


@dataclass
class FuzzRecord:
    cases: int = 0
    items: int = 0
    rejected_items: Counter[str] = field(default_factory=Counter)
    rejected_calls: Counter[str] = field(default_factory=Counter)


_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_GOT = re.compile(r"got -?\d+")
_LARGE = re.compile(r"\b\d{4,}\b")


def reason_class(reason: str) -> str:
    """A rejection reason without the values it quotes (``kind 'X' is not valid`` -> ``kind
    <value> is not valid``), so reasons can be counted."""
    if "interpreter for " in reason:
        return reason.split(" for ", 1)[0] + " for <kind>"
    if reason.startswith("status_json is not JSON:"):
        return "status_json is not JSON"
    return _LARGE.sub("N", _GOT.sub("got N", _QUOTED.sub("<value>", reason)))


@dataclass
class FaultReport:
    """Every record of one test session."""

    faults: list[FaultRecord] = field(default_factory=list)
    fuzz: FuzzRecord = field(default_factory=FuzzRecord)
    soak: bool = False

    def empty(self) -> bool:
        return not self.faults and not self.fuzz.cases

    def totals(self) -> dict[str, int]:
        return {
            "fault_tests": len(self.faults),
            "faults_injected": sum(r.injected for r in self.faults),
            "fault_tests_survived": sum(r.survived for r in self.faults),
            "faults_survived": sum(r.injected for r in self.faults if r.survived),
            "lost_updates": sum(r.lost_updates or 0 for r in self.faults),
            "fuzz_cases": self.fuzz.cases,
            "fuzz_items": self.fuzz.items,
            "rejected_items": sum(self.fuzz.rejected_items.values()),
            "rejected_calls": sum(self.fuzz.rejected_calls.values()),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "soak": self.soak,
            "totals": self.totals(),
            "faults": [asdict(r) for r in self.faults],
            "fuzz": {
                "cases": self.fuzz.cases,
                "items": self.fuzz.items,
                "rejected_items_by_reason": dict(self.fuzz.rejected_items.most_common()),
                "rejected_calls_by_code": dict(self.fuzz.rejected_calls.most_common()),
            },
        }

    def markdown(self) -> str:
        t = self.totals()
        lines = [
            f"Faults injected {t['faults_injected']}, survived {t['faults_survived']} "
            f"({t['fault_tests_survived']}/{t['fault_tests']} fault tests); "
            f"lost updates {t['lost_updates']}; fuzz cases {t['fuzz_cases']} "
            f"({t['fuzz_items']} items, {t['rejected_items']} rejected, "
            f"{t['rejected_calls']} whole calls refused)" + (" [soak]" if self.soak else ""),
        ]
        if self.faults:
            lines += [
                "",
                "| fault | injected | survived | lost updates | figures |",
                "|---|---:|---|---:|---|",
            ]
        for r in self.faults:
            figures = ", ".join(f"{k} {_fmt(v)}" for k, v in r.figures.items())
            lost = "?" if r.lost_updates is None else str(r.lost_updates)
            survived = "yes" if r.survived else "**no**"
            lines.append(f"| {r.name or r.test} | {r.injected} | {survived} | {lost} | {figures} |")
        if self.fuzz.cases:
            lines += ["", "| rejected by the service | count |", "|---|---:|"]
            for reason, count in self.fuzz.rejected_items.most_common():
                lines.append(f"| item: {reason} | {count} |")
            for code, count in self.fuzz.rejected_calls.most_common():
                lines.append(f"| whole call: {code} | {count} |")
        return "\n".join(lines) + "\n"

    def write(self, directory: Path) -> tuple[Path, Path]:
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / "fault-report.json"
        md_path = directory / "fault-report.md"
        json_path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        md_path.write_text(self.markdown())
        return json_path, md_path


def _fmt(value: Figure) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)
