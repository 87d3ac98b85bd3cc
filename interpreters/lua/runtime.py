"""A sandboxed Lua 5.1 state holding the compiled scripts of one customization.

The sandbox mirrors Karmada's: the base, string, table and math libraries, an
`os` with only `time` and `date`, `require("kube")` as the only module, and the
functions that load code or reach metatables and environments replaced by ones
that raise. Each call gets its own globals and its own copies of the library
tables and of `kube`, so nothing a script assigns reaches another call. Each call
runs under a deadline, checked by an instruction-count hook installed before the
`debug` library is removed, and the state has a memory cap. The hook stops plain
runaway loops; the worker process around the state (`pool`) is the hard limit.
No Python object is reachable from scripts: the few Python callbacks live in
upvalues of Lua wrappers, never raise, and attribute access is denied.

Tables iterate as in gopher-lua, Karmada's Lua: `constructors` rewrites each script's
table constructors and `ordered` supplies the metatable that records key insertion order
and the `next` and `pairs` that follow it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from lupa import lua51

from ..errors import CustomizationLoadError, InterpreterError
from ..model import Operation
from . import constructors, ordered, quantity
from .loader import KIND, Script

logger = logging.getLogger("statusagg.interpreters.lua")
_T = TypeVar("_T")

_UNSUPPORTED = (
    "collectgarbage",
    "dofile",
    "getfenv",
    "getmetatable",
    "load",
    "loadfile",
    "loadstring",
    "rawequal",
    "rawget",
    "rawset",
    "setfenv",
    "setmetatable",
    "module",
    "newproxy",
)
_REMOVED = ("io", "debug", "package", "coroutine", "python", "gcinfo")

_BOOTSTRAP = """
local expired_now, resource_add, log, unsupported_names, removed_names, ordered = ...
local new_table, key_mark, ordered_next, ordered_pairs, adopt_arguments, reset =
  unpack(ordered)
local G, sethook, setfenv, next, type = _G, debug.sethook, setfenv, next, type
local error, ipairs, select, tostring, concat = error, ipairs, select, tostring, table.concat
local unpack = unpack

local expired = false
local function hook()
  if expired or expired_now() then
    if not expired then
      expired = true
      sethook(hook, "", 1)
    end
    error("time limit exceeded", 0)
  end
end
local function arm()
  expired = false
  sethook(hook, "", 1000)
end

local function unsupported(name)
  return function()
    error("call function " .. name .. " is not supported in statusagg Lua interpreters", 2)
  end
end

local kube = {
  resourceAdd = function(...)
    local ok, result = resource_add(...)
    if not ok then
      error(result, 2)
    end
    return result
  end,
}

for _, name in ipairs(unsupported_names) do
  G[name] = unsupported(name)
end
for _, name in ipairs(removed_names) do
  G[name] = nil
end
string.rep = unsupported("string.rep")
string.gsub = unsupported("string.gsub")
string.dump = unsupported("string.dump")
G.os = { time = os.time, date = os.date }
G.next = ordered_next
G.pairs = ordered_pairs
G.print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do
    parts[i] = tostring((select(i, ...)))
  end
  log(concat(parts, "\\t"))
end

local base = G
local libraries = { "string", "table", "math", "os" }
local function copy(source)
  local result = {}
  for key, value in next, source do
    result[key] = value
  end
  return result
end
local function fresh_environment()
  local env = copy(base)
  for _, name in ipairs(libraries) do
    env[name] = copy(base[name])
  end
  local own_kube = copy(kube)
  env.require = function(name)
    if name == "kube" then
      return own_kube
    end
    error("module '" .. tostring(name) .. "' not found: only \\"kube\\" can be required", 2)
  end
  env._G = env
  return env
end

local function helpers()
  return new_table, key_mark
end

local function load(chunk, name)
  local env = fresh_environment()
  env.__statusagg_helpers = helpers -- taken and removed by the prologue of constructors.py
  setfenv(chunk, env)
  chunk()
  local fn = env[name]
  if type(fn) ~= "function" then
    error("the script does not define function " .. name .. "()", 0)
  end
  return fn
end

local function invoke(chunk, name, count, args)
  adopt_arguments(count, args)
  reset()
  return load(chunk, name)(unpack(args, 1, count))
end

return arm, sethook, load, invoke
"""


class _Deadline:
    """The current call's deadline, polled by the instruction hook.

    Kept apart from the runtime so the Lua state holds no reference back to it,
    which would form a cycle Python's garbage collector cannot see.
    """

    def __init__(self) -> None:
        self.at = math.inf
        self.passed = False

    def check(self) -> bool:
        if time.monotonic() > self.at:
            self.passed = True
        return self.passed


class RuntimeBroken(InterpreterError):
    """The state hit its time or memory limit and must not be reused."""


class SandboxedRuntime:
    """One Lua state with the compiled scripts of a customization.

    Every call runs the script's chunk in a fresh copy of the sandbox globals and
    then calls its function, so calls never see globals left by earlier ones
    (Karmada runs the script anew for each call too).
    """

    def __init__(
        self, scripts: Mapping[Operation, Script], *, timeout_s: float, memory_bytes: int
    ) -> None:
        self._timeout_s = timeout_s
        self._memory_bytes = memory_bytes
        self._deadline = _Deadline()
        self._lua = lua51.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_deny_attribute,
            max_memory=memory_bytes,
        )
        self._table_from = self._lua.table_from
        ordered_tables = self._lua.execute(ordered.LUA)
        # Disarming calls debug.sethook (a C function) directly, so no Lua instruction runs
        # while an expired hook is still installed.
        self._arm, self._disarm, load, self._invoke = self._lua.execute(
            _BOOTSTRAP,
            self._deadline.check,
            _resource_add,
            _log,
            self._lua.table_from(_UNSUPPORTED),
            self._lua.table_from(_REMOVED),
            self._lua.table_from(ordered_tables),
        )
        self._chunks = {
            operation: (self._compile(script, load), script.function)
            for operation, script in scripts.items()
        }

    def call(self, operation: Operation, args: tuple[Any, ...], convert: Callable[[Any], _T]) -> _T:
        """Run the operation's function with JSON arguments and convert its first result."""
        chunk, function = self._chunks[operation]
        try:
            lua_args = [len(args), self._table_from(args, recursive=True)]
            return convert(self._guarded(self._invoke, [chunk, function, *lua_args]))
        except lua51.LuaMemoryError:
            self._fail_memory()
        except OverflowError as error:
            raise InterpreterError(f"a number does not fit a Lua number: {error}") from error

    def _compile(self, script: Script, load: Any) -> Any:
        """Compile a script and check that running it defines its function."""
        where = f"{script.path}: {KIND} {script.customization!r} {script.field}"
        name = f"={script.customization}.{script.field}"
        try:
            self._lua.compile(script.code, name=name)  # Lua's own message for a syntax error
            chunk = self._lua.compile(constructors.rewrite(script.code), name=name)
            self._guarded(load, [chunk, script.function])
        except (lua51.LuaError, InterpreterError, constructors.RewriteError) as error:
            raise CustomizationLoadError(f"{where}: {_message(error)}") from error
        return chunk

    def _guarded(self, function: Any, args: list[Any]) -> Any:
        self._deadline.passed = False
        self._deadline.at = time.monotonic() + self._timeout_s
        self._arm()
        try:
            return function(*args)
        except lua51.LuaMemoryError:
            self._fail_memory()
        except lua51.LuaError as error:
            if self._deadline.passed:
                limit = f"{self._timeout_s:g}s"
                raise RuntimeBroken(f"Lua script exceeded the time limit of {limit}") from error
            raise InterpreterError(_message(error)) from error
        finally:
            self._disarm()
            self._deadline.at = math.inf

    def _fail_memory(self) -> NoReturn:
        limit = self._memory_bytes / 2**20
        raise RuntimeBroken(f"Lua script exceeded the memory limit of {limit:g} MiB")


def _message(error: Exception) -> str:
    """A Lua error without lupa's stack traceback."""
    return str(error).split("\nstack traceback:", 1)[0].strip()


def _deny_attribute(obj: Any, name: Any, is_setting: bool) -> NoReturn:
    raise AttributeError("access to Python attributes is not allowed")


def _resource_add(*args: Any) -> tuple[bool, str]:
    """`kube.resourceAdd(q1, q2, ...)`: the sum of quantities in canonical form."""
    try:
        values = []
        for position, arg in enumerate(args, start=1):
            if arg is None:
                continue
            if not isinstance(arg, str):
                return False, f"bad argument #{position} to resourceAdd (string expected)"
            values.append(quantity.parse(arg))
        return True, quantity.canonical(*quantity.add(values))
    except Exception as error:
        return False, f"resourceAdd: cannot parse quantity: {error}"


def _log(message: Any) -> None:
    """`print()` from scripts goes to the log, never to stdout."""
    with contextlib.suppress(Exception):
        logger.info("lua: %s", message)
