"""Rewrite the generated parts of docs/benchmarks.md and README.md from a bench.json.

Each part lies between ``<!-- bench:NAME:begin ... -->`` and ``<!-- bench:NAME:end -->``; the
text outside the markers is left as it is, and a missing marker is an error.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

from aggregator.bench.report import body_markdown, number, summary, with_spread

BEGIN = "<!-- bench:{name}:begin (generated from bench.json by `statusagg bench report "
BEGIN += "--update-docs`; do not edit) -->"
END = "<!-- bench:{name}:end -->"
README_PLOT = "burst"  # the scenario whose plot the README shows


class MarkersMissing(ValueError):
    """A document lacks the markers of a generated part."""


def replace_part(text: str, name: str, content: str) -> str:
    begin, end = BEGIN.format(name=name), END.format(name=name)
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise MarkersMissing(f"no {begin!r} ... {end!r} part")
    return pattern.sub(lambda _: f"{begin}\n{content.strip()}\n{end}", text, count=1)


def _median(section: dict[str, Any], variant: str, key: str) -> str:
    cell = section["variants"].get(variant)
    if cell is None:
        return "-"
    return with_spread(cell["median"][key], cell["q1"][key], cell["q3"][key])


def _whole_path(section: dict[str, Any]) -> str:
    """karmada_full's requests per change at defaults, else at equal concurrency (marked)."""
    if "karmada_full/defaults" in section["variants"]:
        return _median(section, "karmada_full/defaults", "requests_per_change")
    if "karmada_full/equal" in section["variants"]:
        return _median(section, "karmada_full/equal", "requests_per_change") + " (equal)"
    return "-"


def readme_table(data: dict[str, Any]) -> str:
    lines = [
        summary(data),
        "",
        "| scenario | API requests per effective change: statusagg at defaults / tuned "
        "| Karmada at defaults: template step / whole path (`karmada_full`) "
        "| converge s at defaults: statusagg / Karmada "
        "| converge time, statusagg tuned / fastest baseline at equal concurrency "
        "| statusagg 409s (most in a run) | correct |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, section in data["scenarios"].items():
        equal = section.get("vs_best_baseline", {}).get("equal")
        if equal:
            ratio = equal["converge_ratio"]
            versus = (
                f"{with_spread(ratio['median'], ratio['q1'], ratio['q3'])} "
                f"({equal['best_baseline']})"
            )
        else:
            versus = "-"
        conflicts = max(
            (
                cell["conflicts_max"]
                for variant, cell in section["variants"].items()
                if variant.startswith("statusagg/")
            ),
            default=0,
        )
        correct = all(cell["correct"] for cell in section["variants"].values())
        lines.append(
            f"| {name} ({section['resources']:,} x {section['clusters']}) "
            f"| {_median(section, 'statusagg/defaults', 'requests_per_change')} / "
            f"{_median(section, 'statusagg/tuned', 'requests_per_change')} "
            f"| {_median(section, 'karmada/defaults', 'requests_per_change')} / "
            f"{_whole_path(section)} "
            f"| {_median(section, 'statusagg/defaults', 'converge_s')} / "
            f"{_median(section, 'karmada/defaults', 'converge_s')} "
            f"| {versus} | {number(conflicts)} | {'yes' if correct else '**no**'} |"
        )
    failures = data["ci_failures"]
    lines += [
        "",
        "CI gate: " + ("passed." if not failures else "**failed**: " + "; ".join(failures) + "."),
    ]
    if README_PLOT in data["scenarios"]:
        lines += [
            "",
            f"![{README_PLOT}: requests per change and convergence per variant, median and IQR]"
            f"(docs/img/bench-{README_PLOT}.png)",
        ]
    return "\n".join(lines)


def figures(data: dict[str, Any]) -> str:
    return "\n".join([summary(data), *body_markdown(data, level=3)])


def update_docs(data: dict[str, Any], root: Path, plots: Path | None = None) -> list[Path]:
    """Rewrite the generated parts under ``root``; copy the README's plot from ``plots`` (the
    directory of bench.json) if it is there. The files written."""
    readme, benchmarks = root / "README.md", root / "docs" / "benchmarks.md"
    readme_text = replace_part(readme.read_text(), "table", readme_table(data))
    benchmarks_text = replace_part(benchmarks.read_text(), "figures", figures(data))
    readme.write_text(readme_text)
    benchmarks.write_text(benchmarks_text)
    written = [readme, benchmarks]
    plot = plots / f"bench-{README_PLOT}.png" if plots else None
    if plot is not None and plot.exists():
        target = root / "docs" / "img" / plot.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(plot, target)
        written.append(target)
    return written
