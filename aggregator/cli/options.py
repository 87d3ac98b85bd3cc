"""Option plumbing shared by the subcommands: STATUSAGG_* environment defaults, value types and
one-line usage errors (exit code 2)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from aggregator.logsetup import LOG_FORMATS

EXIT_USAGE = 2
ENV_PREFIX = "STATUSAGG_"

Kind = Callable[[str], Any]


class UsageError(Exception):
    """A bad flag, environment variable or input file, found before anything is started."""


def env_name(flag: str) -> str:
    """The environment variable of a flag: ``--write-mode`` is ``STATUSAGG_WRITE_MODE``."""
    return ENV_PREFIX + flag.upper().replace("-", "_")


def boolean(value: str) -> bool:
    """true/false, yes/no, on/off, 1/0 (any case); anything else is an error."""
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not a boolean (true or false)")


def _number(convert: Callable[[str], float], name: str, minimum: float) -> Kind:
    def parse(value: str) -> Any:
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not {name}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{value!r} is below {minimum:g}")
        return number

    parse.__name__ = name
    return parse


non_negative_int = _number(int, "an integer", 0)
positive_int = _number(int, "an integer", 1)
non_negative_float = _number(float, "a number", 0)


def choice(*allowed: str) -> Kind:
    """A string that must be one of ``allowed``."""

    def parse(value: str) -> str:
        if value not in allowed:
            raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return parse


def comma_list(value: str) -> list[str]:
    """Comma-separated values, blanks dropped."""
    return [part.strip() for part in value.split(",") if part.strip()]


class EnvOption:
    """A flag whose default comes from its STATUSAGG_* variable when that is set."""

    def __init__(self, flag: str, dest: str, kind: Kind, repeated: bool) -> None:
        self.flag, self.dest, self.kind, self.repeated = flag, dest, kind, repeated

    @property
    def env(self) -> str:
        return env_name(self.flag)

    def value(self, raw: str) -> Any:
        """The typed value of the variable's text (a list, comma-separated, for repeated flags)."""
        if self.repeated:
            return [self.kind(part) for part in comma_list(raw)]
        return self.kind(raw)


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, and whose STATUSAGG_* environment defaults
    are read and checked when this (sub)command is parsed, not when it is defined."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.env_options: list[EnvOption] = []

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        for option in self.env_options:
            raw = os.environ.get(option.env)
            if raw is None:
                continue
            try:
                self.set_defaults(**{option.dest: option.value(raw)})
            except (ValueError, argparse.ArgumentTypeError) as exc:
                self.error(f"{option.env}={raw!r}: {exc}")
        return super().parse_known_args(args, namespace)


class _Append(argparse.Action):
    """Like ``append``, but values on the command line replace the default instead of
    extending it (so flags override their environment variable)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        current = getattr(namespace, self.dest, None)
        items = [] if current is None or current is self.default else list(current)
        setattr(namespace, self.dest, [*items, values])


def add(
    parser: argparse.ArgumentParser,
    flag: str,
    *,
    default: object,
    help: str,
    kind: Kind = str,
    repeated: bool = False,
    metavar: str | None = None,
) -> None:
    """Add ``--flag`` with a STATUSAGG_* variable; a repeated flag's variable is comma-separated."""
    assert isinstance(parser, Parser), "subcommands are created with the Parser class"
    dest = flag.replace("-", "_")
    env = env_name(flag)
    extra: dict[str, Any] = {}
    if kind is boolean:
        extra = {"nargs": "?", "const": True}
    if repeated:
        extra = {"action": _Append}
        where = f"repeatable; env {env}, comma-separated"
    else:
        where = f"env {env}" + ("" if default in (None, "") else "; default %(default)s")
    parser.add_argument(
        f"--{flag}",
        dest=dest,
        type=kind,
        default=default,
        metavar=metavar,
        help=f"{help} ({where})",
        **extra,
    )
    parser.env_options.append(EnvOption(flag, dest, kind, repeated))


def log_flags(parser: argparse.ArgumentParser) -> None:
    """``--log-level`` and ``--log-format``."""
    add(
        parser,
        "log-level",
        default="info",
        kind=choice("debug", "info", "warning", "error"),
        help="debug, info, warning or error",
    )
    add(
        parser,
        "log-format",
        default="text",
        kind=choice(*LOG_FORMATS),
        help="text, or json: one object per line",
    )
