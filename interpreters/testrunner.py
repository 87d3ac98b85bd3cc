"""`statusagg interpret --test`: run the test cases shipped beside Karmada customizations.

A customization directory holds `customizations.yaml` and either
`testdata/*-test.yaml` (Karmada since v1.17: cases with `name`, `operation`,
`desiredObj` or `observedObj`, `statusItems` and the expected `output`) or the
older `customizations_tests.yaml` (a `tests` list of input file paths, no
expected output: a case passes when it runs). Each case runs through the
customization alone, as Karmada's harness does. Expected fields set to
`{{EXCLUDE}}` are not compared; operations statusagg does not run are skipped.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from .errors import InterpreterError
from .karmadactl import RESULT_NAMES, UnsupportedOperation, parse_operation, run_customized
from .registry import Registry, build_registry
from .yamlio import load_all

CUSTOMIZATION = "customizations.yaml"
LEGACY_TESTS = "customizations_tests.yaml"
EXCLUDE = "{{EXCLUDE}}"
_SUFFIXES = (".yaml", ".yml", ".json")


class Outcome(enum.StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


@dataclass(frozen=True, slots=True)
class CaseResult:
    """One case's outcome; `case` names the file and the case."""

    case: str
    outcome: Outcome
    detail: str = ""


def run(paths: Sequence[Path]) -> list[CaseResult]:
    """Every case of every customization directory at or under `paths`."""
    results = []
    for path in paths:
        directories = _customization_dirs(path)
        if not directories:
            results.append(CaseResult(str(path), Outcome.FAIL, f"no {CUSTOMIZATION} found"))
        for directory in directories:
            results += run_customization(directory)
    return results


def run_customization(directory: Path) -> list[CaseResult]:
    """The cases of one customization directory."""
    try:
        registry = build_registry([directory / CUSTOMIZATION], load_plugins=False)
        cases = list(_cases(directory))
    except (OSError, yaml.YAMLError, InterpreterError) as error:
        return [CaseResult(str(directory), Outcome.FAIL, str(error))]
    try:
        return [_run_case(registry, label, case) for label, case in cases]
    finally:
        registry.close()


def report(results: Sequence[CaseResult], out: TextIO) -> None:
    """One line per case, details indented below a failure, then the counts."""
    for result in results:
        out.write(f"{result.outcome}  {result.case}\n")
        if result.detail:
            out.write("".join(f"      {line}\n" for line in result.detail.splitlines()))
    counts = {outcome: sum(r.outcome is outcome for r in results) for outcome in Outcome}
    out.write(
        f"{counts[Outcome.PASS]} passed, {counts[Outcome.FAIL]} failed, "
        f"{counts[Outcome.SKIP]} skipped\n"
    )


def matches(expected: Any, actual: Any) -> bool:
    """Equal once `{{EXCLUDE}}` fields are dropped; 1 and 1.0 (or true and 1) differ."""
    kept_expected, kept_actual = _without_excluded(expected, actual)
    return bool(_typed(kept_expected) == _typed(kept_actual))


def _customization_dirs(path: Path) -> list[Path]:
    if (path / CUSTOMIZATION).is_file():
        return [path]
    if path.is_file() and path.name == CUSTOMIZATION:
        return [path.parent]
    return sorted(found.parent for found in path.rglob(CUSTOMIZATION))


def _cases(directory: Path) -> Iterator[tuple[str, Mapping[str, Any]]]:
    legacy = directory / LEGACY_TESTS
    if legacy.is_file():
        tests = _mapping(yaml.safe_load(legacy.read_text(encoding="utf-8"))).get("tests") or []
        for index, test in enumerate(tests, start=1):
            yield (
                f"{legacy}: #{index} {_mapping(test).get('operation')}",
                _legacy_case(directory, _mapping(test)),
            )
        return
    testdata = directory / "testdata"
    files = sorted(p for p in testdata.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
    for file in files:
        for case in load_all(file.read_text(encoding="utf-8")):
            if case is not None:
                case = _mapping(case)
                yield f"{file}: {case.get('operation')}: {case.get('name')}", case


def _legacy_case(directory: Path, test: Mapping[str, Any]) -> Mapping[str, Any]:
    """A `customizations_tests.yaml` entry as a case with inputs read from its files."""
    case: dict[str, Any] = {"operation": test.get("operation")}
    for field, key in (("desiredInputPath", "desiredObj"), ("observedInputPath", "observedObj")):
        if test.get(field):
            case[key] = next(load_all((directory / test[field]).read_text(encoding="utf-8")), None)
    if test.get("statusInputPath"):
        text = (directory / test["statusInputPath"]).read_text(encoding="utf-8")
        case["statusItems"] = [item for item in load_all(text) if item is not None]
    return case


def _run_case(registry: Registry, label: str, case: Mapping[str, Any]) -> CaseResult:
    try:
        operation = parse_operation(str(case.get("operation")))
    except UnsupportedOperation:
        return CaseResult(label, Outcome.SKIP, "statusagg does not run this operation")
    except ValueError as error:
        return CaseResult(label, Outcome.FAIL, str(error))
    desired, observed = case.get("desiredObj"), case.get("observedObj")
    if desired is not None and observed is not None:
        return CaseResult(label, Outcome.FAIL, "both desiredObj and observedObj are set")
    obj = desired if desired is not None else observed
    if not isinstance(obj, dict):
        return CaseResult(label, Outcome.FAIL, "desiredObj or observedObj must be an object")
    try:
        result = run_customized(registry, operation, obj, case.get("statusItems"))
    except InterpreterError as error:
        return CaseResult(label, Outcome.FAIL, f"error: {error}")
    output = _mapping(case.get("output"))
    result_name = RESULT_NAMES[operation]
    unknown = sorted(set(output) - {result_name})
    if unknown:
        return CaseResult(label, Outcome.FAIL, f"output keys not in the result: {unknown}")
    if result_name in output and not matches(output[result_name], result):
        return CaseResult(
            label,
            Outcome.FAIL,
            f"{result_name}: expected\n{_dump(output[result_name])}got\n{_dump(result)}",
        )
    return CaseResult(label, Outcome.PASS)


def _without_excluded(expected: Any, actual: Any) -> tuple[Any, Any]:
    """Both values without the fields marked {{EXCLUDE}} in `expected`."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        kept_expected, kept_actual = {}, {}
        for key in expected.keys() | actual.keys():
            if expected.get(key) == EXCLUDE:
                continue
            if key in expected and key in actual:
                kept_expected[key], kept_actual[key] = _without_excluded(expected[key], actual[key])
            elif key in expected:
                kept_expected[key] = expected[key]
            else:
                kept_actual[key] = actual[key]
        return kept_expected, kept_actual
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        pairs = [_without_excluded(e, a) for e, a in zip(expected, actual, strict=True)]
        return [pair[0] for pair in pairs], [pair[1] for pair in pairs]
    return expected, actual


def _typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value).__name__, value)


def _dump(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=True, default_flow_style=False).removesuffix("...\n")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
