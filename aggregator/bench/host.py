"""Run a variant's strategy in its own process, so its CPU, memory and pauses are its own.

The bench process (driver, observer, request counters) talks to one host process per variant
over a pipe: ``start`` a run, ``preload``, ``deliver`` a wave, ``drain``, ``stop``; the host
rebuilds the scenario and its offline replay from the sizes (both are deterministic) and
measures its own CPU time and peak RSS between ``meter`` and ``usage``. Hosts live for the
whole matrix and are pinned to one core where the machine has more than one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import resource
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from aggregator.bench.replay import Replay, replay
from aggregator.bench.scenarios import Report, Scenario, Sizes, build
from aggregator.bench.strategies import RunContext, Strategy, make
from aggregator.bench.variants import Variant


def allowed_cores() -> set[int]:
    """The cores this process may run on (empty where affinity is not supported)."""
    try:
        return set(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return set()


def cores() -> tuple[int | None, int | None]:
    """The core for the bench process and the core for the hosts; None where not pinned
    (one core, or no affinity support)."""
    allowed = sorted(allowed_cores())
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[-1]


def pin(core: int | None) -> None:
    """Pin this process to ``core`` (no-op for None)."""
    if core is not None:
        unpin({core})


def unpin(allowed: set[int]) -> None:
    """Let this process run on ``allowed`` again (no-op for an empty set)."""
    if allowed:
        with contextlib.suppress(AttributeError, OSError):
            os.sched_setaffinity(0, allowed)


def reset_peak_rss() -> None:
    """Let the next peak RSS reading start from now (Linux; elsewhere the process's peak)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _Host:
    """The host process's side: one strategy at a time."""

    def __init__(self, variant: Variant, sizes: Sizes) -> None:
        self.variant = variant
        self.sizes = sizes
        self.scenarios: dict[str, tuple[Scenario, Replay, list[list[list[Report]]]]] = {}
        self.strategy: Strategy | None = None
        self.batches: list[list[list[Report]]] = []
        self.preload_batches: list[list[Report]] = []
        self.cpu = 0.0

    def _scenario(self, name: str) -> tuple[Scenario, Replay, list[list[list[Report]]]]:
        if name not in self.scenarios:
            from interpreters import build_registry

            (scenario,) = build(self.sizes, [name])
            expected = replay(scenario, build_registry(load_plugins=False))
            self.scenarios[name] = (
                scenario,
                expected,
                [wave.by_cluster() for wave in scenario.waves],
            )
        return self.scenarios[name]

    async def handle(self, command: str, args: tuple[Any, ...]) -> Any:
        if command == "start":
            kubeconfig, scenario_name, namespace = args
            scenario, expected, self.batches = self._scenario(scenario_name)
            self.preload_batches = scenario.preload_wave().by_cluster() if scenario.preload else []
            self.strategy = make(self.variant)
            await self.strategy.start(RunContext(Path(kubeconfig), namespace, scenario, expected))
            return None
        strategy = self.strategy
        if strategy is None:
            if command == "stop":  # stopped already, or never started
                return None
            raise RuntimeError(f"{command}: no run started")
        if command == "preload":
            await strategy.preload(self.preload_batches)
            await strategy.drain()
        elif command == "deliver":
            (wave,) = args
            await strategy.deliver(wave, self.batches[wave])
        elif command == "drain":
            await strategy.drain()
        elif command == "meter":
            reset_peak_rss()
            self.cpu = time.process_time()
        elif command == "usage":
            return time.process_time() - self.cpu, peak_rss_mb()
        elif command == "stop":
            self.strategy = None
            await strategy.stop()
        else:
            raise ValueError(f"unknown command {command!r}")
        return None


async def _serve(conn: Connection, variant: Variant, sizes: Sizes) -> None:
    host = _Host(variant, sizes)
    while True:
        message = await asyncio.to_thread(conn.recv)
        command, args = message[0], message[1:]
        if command == "exit":
            return
        try:
            reply: tuple[str, Any] = ("ok", await host.handle(command, args))
        except Exception:
            reply = ("error", traceback.format_exc())
        conn.send(reply)


def _main(conn: Connection, variant: Variant, sizes: Sizes, core: int | None) -> None:
    pin(core)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("aggregator").setLevel(logging.WARNING)
    asyncio.run(_serve(conn, variant, sizes))


class StrategyHost:
    """The bench's side of one host process."""

    def __init__(self, variant: Variant, sizes: Sizes, core: int | None) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_main, args=(child, variant, sizes, core), name=f"bench {variant.name}"
        )
        self._process.start()
        child.close()
        self._lock = asyncio.Lock()
        self.pid = self._process.pid

    async def call(self, command: str, *args: Any) -> Any:
        """Run ``command`` in the host; its result, or RuntimeError with the host's traceback."""
        async with self._lock:
            self._conn.send((command, *args))
            status, value = await asyncio.to_thread(self._conn.recv)
        if status == "error":
            raise RuntimeError(f"strategy host failed:\n{value}")
        return value

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(("exit",))
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._conn.close()
