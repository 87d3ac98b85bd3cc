"""Hostile Lua customizations: no script escapes its time limit, leaks into another call, or
holds the workers other customizations need."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from interpreters import InterpreterError, LuaSettings, Registry, build_registry

WIDGET = {"apiVersion": "example.io/v1", "kind": "Widget", "metadata": {"name": "w"}}
GADGET = {"apiVersion": "example.io/v1", "kind": "Gadget", "metadata": {"name": "g"}}

POISON_EVERYTHING = """
function ReflectStatus(obj)
  local poison = function() return "POISONED" end
  local libraries = {string = string, table = table, math = math, os = os, kube = require("kube")}
  for _, library in pairs(libraries) do
    local names = {}
    for name in pairs(library) do names[#names + 1] = name end
    for _, name in ipairs(names) do library[name] = poison end
    library.poisoned = true
  end
  _G.leaked = true
  leaked_global = true
  print = poison
  pairs = poison
  return {done = true}
end
"""

CHECK_CLEAN = """
function ReflectStatus(obj)
  local dirty = {}
  local libraries = {string = string, table = table, math = math, os = os, kube = require("kube")}
  for libname, library in pairs(libraries) do
    if library.poisoned ~= nil then dirty[#dirty + 1] = libname .. ".poisoned" end
    for name, value in pairs(library) do
      if type(value) == "function" then
        local ok, result = pcall(value)
        if result == "POISONED" then dirty[#dirty + 1] = libname .. "." .. name end
      end
    end
  end
  if leaked or leaked_global then dirty[#dirty + 1] = "global" end
  if print() == "POISONED" or pairs == nil then dirty[#dirty + 1] = "base" end
  return {dirty = table.concat(dirty, ","), upper = string.upper("a"), method = ("b"):upper(),
          sum = require("kube").resourceAdd("1", "2")}
end
"""


@pytest.fixture
def registry_of(
    write_ric: Callable[..., Path], ric: Callable[..., str]
) -> Iterator[Callable[..., Registry]]:
    """A registry with Widget and Gadget customizations of the given ReflectStatus scripts."""
    built: list[Registry] = []

    def build(widget: str, gadget: str, **limits: float) -> Registry:
        path = write_ric(
            ric(name="widget", kind="Widget", statusReflection=widget),
            ric(name="gadget", kind="Gadget", statusReflection=gadget),
        )
        registry = build_registry([path], load_plugins=False, lua=LuaSettings(**limits))  # type: ignore[arg-type]
        built.append(registry)
        return registry

    yield build
    for registry in built:
        registry.close()


def loop_in(body: str) -> str:
    return f"function ReflectStatus(obj)\n{body}\nreturn {{ok = true}}\nend"


class TestHardTimeLimit:
    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(
                "xpcall(function() while true do end end, function(e) while true do end end)",
                id="xpcall-handler-loops",
            ),
            pytest.param(
                "xpcall(error, function(e) while true do end end)", id="c-function-handler-loops"
            ),
            pytest.param(
                "while true do pcall(error) pcall(function() while true do end end) end",
                id="pcall-in-a-loop",
            ),
            pytest.param(
                "local s = '' for i = 1, 26 do s = s .. 'a' end\n"
                "local p = '' for i = 1, 24 do p = p .. 'a*' end\n"
                "string.find(s, p .. 'b')",
                id="pathological-pattern-in-c",
            ),
            pytest.param(
                "local t = {} for i = 1, 200000 do t[i] = i end\n"
                "while true do table.sort(t, function(a, b) return a > b end) end",
                id="c-function-callbacks",
            ),
        ],
    )
    def test_script_is_stopped_and_the_next_call_works(self, registry_of, body):
        registry = registry_of(loop_in(body), loop_in(""), timeout_s=0.3, workers=1)
        with pytest.raises(InterpreterError, match=r"time limit of 0\.3s"):
            registry.reflect(WIDGET)
        assert registry.reflect(GADGET) == {"ok": True}
        with pytest.raises(InterpreterError, match="time limit"):
            registry.reflect(WIDGET)

    def test_runaway_script_leaves_a_worker_for_other_customizations(self, registry_of):
        registry = registry_of(
            loop_in("xpcall(function() while true do end end, function() while true do end end)"),
            loop_in(""),
            timeout_s=2.0,
            workers=2,
        )
        failure: list[Exception] = []

        def runaway() -> None:
            try:
                registry.reflect(WIDGET)
            except InterpreterError as error:
                failure.append(error)

        threads = [threading.Thread(target=runaway) for _ in range(2)]
        for thread in threads:
            thread.start()
        answers = [registry.reflect(GADGET) for _ in range(20)]
        assert answers == [{"ok": True}] * 20
        assert any(thread.is_alive() for thread in threads)  # the runaway still held its worker
        for thread in threads:
            thread.join()
        assert len(failure) == 2
        assert all("time limit" in str(error) for error in failure)


class TestNoLeaks:
    def test_every_library_is_fresh_in_the_next_call(self, registry_of):
        registry = registry_of(POISON_EVERYTHING, CHECK_CLEAN, workers=1)
        assert registry.reflect(WIDGET) == {"done": True}
        clean = {"dirty": "", "upper": "A", "method": "B", "sum": "3"}
        assert registry.reflect(GADGET) == clean  # another customization, the same process
        check_widget = registry_of(CHECK_CLEAN, POISON_EVERYTHING, workers=1)
        assert check_widget.reflect(GADGET) == {"done": True}
        assert check_widget.reflect(WIDGET) == clean  # the same customization, the next call

    def test_arguments_are_not_shared_between_calls(self, lua_registry):
        registry = lua_registry(
            statusReflection="""
            function ReflectStatus(obj)
              local seen = obj.metadata.seen
              obj.metadata.seen = true
              return {seen = seen == true}
            end
            """
        )
        assert registry.reflect(WIDGET) == {"seen": False}
        assert registry.reflect(WIDGET) == {"seen": False}
        assert "seen" not in WIDGET["metadata"]


class TestMemory:
    @pytest.mark.parametrize(
        "body",
        [
            pytest.param("local t = {} for i = 1, 1e8 do t[i] = {i} end", id="tables"),
            pytest.param("local s = 'x' for i = 1, 40 do s = s .. s end", id="strings"),
            pytest.param(
                "local t = {} for i = 1, 1e7 do t[i] = 'abcdefghij' .. i end\n"
                "local s = table.concat(t)",
                id="c-function-concat",
            ),
            pytest.param(
                "local ok = pcall(function() local t = {} for i = 1, 1e8 do t[i] = {i} end end)\n"
                "local t = {} for i = 1, 1e8 do t[i] = {i} end",
                id="caught-then-again",
            ),
        ],
    )
    def test_memory_cap_holds(self, lua_registry, body):
        registry = lua_registry(statusReflection=loop_in(body), memory_mb=16, timeout_s=10)
        with pytest.raises(InterpreterError, match="memory limit of 16 MiB"):
            registry.reflect(WIDGET)

    def test_a_small_script_cannot_amplify_into_a_huge_result(self, lua_registry):
        registry = lua_registry(
            statusReflection="""
            function ReflectStatus(obj)
              local s = string.format("%099d", 0)
              local parts = {}
              for i = 1, 400000 do parts[i] = s end
              return {parts = parts}
            end
            """,
            memory_mb=16,
        )
        with pytest.raises(InterpreterError, match="over the 16 MiB limit"):
            registry.reflect(WIDGET)
