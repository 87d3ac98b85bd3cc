"""The commands' event loop: uvloop where installed unless asyncio is asked for."""

from __future__ import annotations

import asyncio
import sys

import pytest

from aggregator import eventloop
from aggregator.cli.options import UsageError, checked_loop


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_auto_and_uvloop_run_on_uvloop_and_asyncio_on_asyncio() -> None:
    pytest.importorskip("uvloop")
    assert eventloop.run(_loop_module()).startswith("uvloop")
    assert eventloop.run(_loop_module(), "uvloop").startswith("uvloop")
    assert eventloop.run(_loop_module(), "asyncio") == "asyncio.unix_events"
    assert eventloop.loop_name() == "uvloop"
    assert eventloop.loop_name("asyncio") == "asyncio"


def test_uvloop_asked_for_where_it_is_missing_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    with pytest.raises(UsageError, match="--event-loop uvloop: uvloop is not installed"):
        checked_loop("uvloop")
    assert checked_loop("auto") == "auto"
    assert eventloop.loop_name() == "asyncio"
    assert eventloop.run(_loop_module()) == "asyncio.unix_events"
