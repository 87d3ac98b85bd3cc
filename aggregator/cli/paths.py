"""Value types of flags (addresses, write modes, status fields) and checks of the files flags
name (TLS files, kubeconfigs, customizations)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from aggregator.cli.options import UsageError
from aggregator.statuspath import StatusPathError, ignore_pattern
from aggregator.writer import WriteMode
from interpreters import LuaSettings


def readable_files(args: argparse.Namespace, *flags: str) -> None:
    """Raise UsageError unless every given file flag names a file this process can read.

    Checked when the command starts, not while parsing, so that a command line can be parsed
    on a machine without its files (the deployment checks do).
    """
    for flag in flags:
        path = getattr(args, flag.replace("-", "_"))
        if not path:
            continue
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            raise UsageError(f"--{flag}: cannot read {path}: {exc.strerror}") from None


def host_port(value: str) -> str:
    """``host:port`` with a numeric port (``[::1]:7443`` for IPv6)."""
    _host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return value


def kind_write_mode(value: str) -> tuple[str, WriteMode]:
    """``KIND=MODE``, e.g. ``Deployment=apply``."""
    kind, sep, mode = value.partition("=")
    modes = ", ".join(m.value for m in WriteMode)
    if not sep or not kind:
        raise argparse.ArgumentTypeError(f"{value!r} is not KIND=MODE (MODE: {modes})")
    try:
        return kind, WriteMode(mode)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{mode!r} in {value!r} is not one of {modes}") from None


def status_path(value: str) -> str:
    """A status field path (see aggregator.statuspath); kept as written."""
    try:
        ignore_pattern(value)
    except StatusPathError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return value


def check_kubeconfig(path: Path | None) -> None:
    """Raise UsageError unless ``path`` (None: in-cluster) is a kubeconfig with a usable current
    context."""
    from aggregator.kube.config import KubeconfigError, load_cluster_access

    try:
        load_cluster_access(path)
    except KubeconfigError as exc:
        raise UsageError(str(exc)) from None


def check_interpreters(
    customizations: Sequence[Path], *, load_plugins: bool, lua: LuaSettings
) -> None:
    """Raise UsageError unless the customizations and the installed plugins load."""
    from interpreters import InterpreterError, build_registry

    try:
        build_registry(customizations, load_plugins=load_plugins, lua=lua).close()
    except (OSError, InterpreterError) as exc:
        raise UsageError(" ".join(str(exc).split())) from None
