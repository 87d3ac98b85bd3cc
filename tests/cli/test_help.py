"""Every option of every subcommand explains itself; every serve and agent flag has a variable."""

from __future__ import annotations

import argparse
import subprocess
from importlib.metadata import version

import pytest

from aggregator.cli import build_parser
from aggregator.cli.options import Parser, env_name
from tests.cli.processes import COMMAND


def subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    found: dict[str, argparse.ArgumentParser] = {"statusagg": parser}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found


def test_every_subcommand_is_walked() -> None:
    assert {"serve", "agent", "get", "demo", "dev-apiserver", "interpret", "bench"} <= set(
        subcommands()
    )


@pytest.mark.parametrize("name", sorted(subcommands()))
def test_every_option_has_help(name: str) -> None:
    parser = subcommands()[name]
    missing = [
        action.option_strings[0] if action.option_strings else action.dest
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction)
        and (action.help is None or not action.help.strip() or action.help == argparse.SUPPRESS)
    ]
    assert missing == []


@pytest.mark.parametrize("name", ["serve", "agent", "get", "demo", "dev-apiserver"])
def test_every_flag_has_a_documented_variable(name: str) -> None:
    parser = subcommands()[name]
    assert isinstance(parser, Parser)
    with_variable = {option.dest for option in parser.env_options}
    for action in parser._actions:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            continue
        flag = action.option_strings[0]
        assert action.dest in with_variable, f"{name} {flag} has no environment variable"
        assert action.help is not None
        assert env_name(flag.removeprefix("--")) in action.help, (
            f"{name} {flag}: help names no variable"
        )


@pytest.mark.parametrize(
    ("flag", "raw", "expected"),
    [
        ("kind-write-mode", "Deployment=apply,Job=merge-patch", "apply"),
        ("ignore-path", "status.conditions,status.observedGeneration", "status.conditions"),
        ("customization", "a.yaml,b.yaml", "a.yaml"),
    ],
)
def test_repeatable_serve_flags_take_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch, flag: str, raw: str, expected: str
) -> None:
    monkeypatch.setenv(env_name(flag), raw)
    value = getattr(build_parser().parse_args(["serve"]), flag.replace("-", "_"))
    assert len(value) == 2
    assert expected in str(value[0])
    # the command line replaces the variable rather than adding to it
    again = build_parser().parse_args(["serve", f"--{flag}", raw.split(",")[1]])
    assert len(getattr(again, flag.replace("-", "_"))) == 1


def test_agent_customization_has_a_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATUSAGG_CUSTOMIZATION", "one.yaml,two")
    args = build_parser().parse_args(["agent"])
    assert [str(p) for p in args.customization] == ["one.yaml", "two"]


def test_version_comes_from_the_package_metadata() -> None:
    result = subprocess.run(
        [*COMMAND, "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == f"statusagg {version('statusagg')}"
