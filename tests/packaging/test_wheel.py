"""The wheel as users install it: typed packages, and the local kube-apiserver's Go module as
package data, so ``dev-apiserver`` and ``serve`` without a kubeconfig work outside a checkout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = """
from interpreters import InterpreterError, Operation

OPERATIONS: frozenset[Operation] = frozenset({Operation.HEALTH})


def fail(message: str) -> InterpreterError:
    return InterpreterError(message)
"""


@dataclass
class Installed:
    python: Path
    site: Path
    env: dict[str, str]
    workdir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.python), *args],
            cwd=self.workdir,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp), str(ROOT)],
        check=True,
    )
    (built,) = tmp.glob("statusagg-*.whl")
    return built


def install(wheel: Path, venv: Path) -> tuple[Path, Path]:
    """The wheel alone in a fresh venv: its python and site-packages."""
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return python, Path(site)


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """The wheel in a fresh venv; its dependencies come from this one's site-packages (listed
    in a .pth file, whose own .pth files, e.g. the editable install of this checkout, are not
    processed)."""
    tmp = tmp_path_factory.mktemp("installed")
    python, site = install(wheel, tmp / "venv")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "PYTHONPATH")}
    env["PATH"] = f"{python.parent}{os.pathsep}{env['PATH']}"
    workdir = tmp / "elsewhere"
    workdir.mkdir()
    return Installed(python, site, env, workdir)


def test_the_packages_come_from_the_wheel(installed: Installed) -> None:
    result = installed.run(
        "-c", "import aggregator.devcluster as d, interpreters; print(d.MODULE_DIR)"
    )
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()) == installed.site / "aggregator" / "_localapiserver"


def test_plugin_authors_type_check_against_the_installed_packages(
    wheel: Path, tmp_path: Path
) -> None:
    python, site = install(wheel, tmp_path / "venv")
    plugin = tmp_path / "plugin.py"
    plugin.write_text(PLUGIN)
    mypy = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    command = [*mypy, "--python-executable", str(python), str(plugin)]
    typed = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert typed.returncode == 0, typed.stdout
    (site / "interpreters" / "py.typed").unlink()
    untyped = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert "import-untyped" in untyped.stdout


def test_dev_apiserver_builds_from_the_installed_package(installed: Installed) -> None:
    result = installed.run("-m", "aggregator.cli", "dev-apiserver", "--build-only")
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip()).is_file()


def test_serve_without_a_kubeconfig_starts_a_local_api_server(installed: Installed) -> None:
    serve = ["serve", "--insecure", "--listen=127.0.0.1:0", "--metrics-listen=127.0.0.1:0"]
    command = subprocess.Popen(
        [str(installed.python), "-m", "aggregator.cli", *serve, "--plugins=false"],
        cwd=installed.workdir,
        env=installed.env,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    try:
        assert command.stderr is not None
        for line in command.stderr:
            lines.append(line)
            if "serving StatusAggregator" in line:
                break
        else:
            raise AssertionError(f"serve exited with {command.wait()}:\n{''.join(lines)}")
        command.send_signal(signal.SIGTERM)
        command.communicate(timeout=60)
        assert command.returncode == 0
    finally:
        command.kill()
        command.wait()
    assert any("started a local kube-apiserver" in line for line in lines)
