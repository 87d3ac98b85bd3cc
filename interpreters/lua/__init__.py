"""Karmada ResourceInterpreterCustomization Lua scripts, run in a sandbox with lupa."""

from .interpreter import LuaInterpreter
from .loader import Customization, Script, load_customizations

__all__ = ["Customization", "LuaInterpreter", "Script", "load_customizations"]
