"""Interpreters: aggregate member statuses, reflect and judge the health of member objects.

Four layers, highest precedence first: Karmada ResourceInterpreterCustomization
Lua scripts, interpreter webhooks (set by the service), Python plugins (entry-point
group `statusagg.interpreters`) and built-ins matching Karmada's native interpreter.
"""

from .errors import (
    CustomizationLoadError,
    InterpreterError,
    InterpreterUnavailable,
    UnknownKindError,
)
from .model import HookInfo, Layer, Operation, RemoteHook, RemoteLayer, Target
from .plugins import ENTRY_POINT_GROUP, InterpreterPlugin
from .registry import LuaSettings, Registry, build_registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "CustomizationLoadError",
    "HookInfo",
    "InterpreterError",
    "InterpreterPlugin",
    "InterpreterUnavailable",
    "Layer",
    "LuaSettings",
    "Operation",
    "Registry",
    "RemoteHook",
    "RemoteLayer",
    "Target",
    "UnknownKindError",
    "build_registry",
]
