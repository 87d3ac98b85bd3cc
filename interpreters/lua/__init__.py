"""Karmada ResourceInterpreterCustomization Lua scripts, run in a sandbox with lupa."""

from .interpreter import LuaInterpreter
from .loader import Customization, Script, load_customizations
from .pool import WorkerPool

__all__ = ["Customization", "LuaInterpreter", "Script", "WorkerPool", "load_customizations"]
