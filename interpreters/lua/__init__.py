"""Karmada ResourceInterpreterCustomization Lua scripts, run in a sandbox with lupa."""

from .interpreter import LuaInterpreter
from .loader import (
    Customization,
    Document,
    Script,
    load_customizations,
    load_documents,
    merge_documents,
    parse_object,
)
from .pool import WorkerPool

__all__ = [
    "Customization",
    "Document",
    "LuaInterpreter",
    "Script",
    "WorkerPool",
    "load_customizations",
    "load_documents",
    "merge_documents",
    "parse_object",
]
