"""The event loop the commands run on: uvloop where it is installed (its sockets, TLS and
timers are native code: less CPU per request and per report), else asyncio's own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

EVENT_LOOPS = ("auto", "uvloop", "asyncio")

T = TypeVar("T")


class LoopUnavailable(Exception):
    """The event loop asked for is not installed."""


def loop_factory(name: str = "auto") -> Callable[[], asyncio.AbstractEventLoop] | None:
    """How to make the loop ``name`` names (None: asyncio's default); ``auto`` prefers uvloop."""
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise LoopUnavailable("uvloop is not installed (pip install uvloop)") from None
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T], name: str = "auto") -> T:
    """Run ``main`` to completion on a new loop of kind ``name``, like ``asyncio.run``."""
    with asyncio.Runner(loop_factory=loop_factory(name)) as runner:
        loop = runner.get_loop()
        log.debug("event loop: %s.%s", type(loop).__module__, type(loop).__name__)
        return runner.run(main)


def loop_name(name: str = "auto") -> str:
    """What ``name`` runs on here: ``uvloop`` or ``asyncio``."""
    return "asyncio" if loop_factory(name) is None else "uvloop"
