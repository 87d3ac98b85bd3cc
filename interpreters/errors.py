"""Errors raised by interpreters and the registry."""

from __future__ import annotations


class InterpreterError(Exception):
    """An interpreter failed: bad input, a Lua runtime error, a timeout or a broken plugin."""


class UnknownKindError(InterpreterError):
    """No interpreter offers this operation for this apiVersion and kind."""


class CustomizationLoadError(InterpreterError):
    """A ResourceInterpreterCustomization could not be loaded or its Lua does not compile."""


class InterpreterUnavailable(InterpreterError):
    """An interpreter could not answer now (a webhook timed out, was unreachable or busy):
    the same inputs may succeed when tried again."""
