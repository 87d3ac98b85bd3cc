"""Interpreters: aggregate member statuses, reflect and judge the health of member objects.

Three layers, highest precedence first: Karmada ResourceInterpreterCustomization
Lua scripts, Python plugins (entry-point group `statusagg.interpreters`) and
built-ins matching Karmada's native interpreter.
"""

from .errors import CustomizationLoadError, InterpreterError, UnknownKindError
from .model import HookInfo, Layer, Operation
from .plugins import ENTRY_POINT_GROUP, InterpreterPlugin
from .registry import LuaSettings, Registry, build_registry

__all__ = [
    "ENTRY_POINT_GROUP",
    "CustomizationLoadError",
    "HookInfo",
    "InterpreterError",
    "InterpreterPlugin",
    "Layer",
    "LuaSettings",
    "Operation",
    "Registry",
    "UnknownKindError",
    "build_registry",
]
