"""Lua customizations: conversions, sandbox, limits and error reporting."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from interpreters import CustomizationLoadError, InterpreterError, LuaSettings, build_registry

WIDGET = {
    "apiVersion": "example.io/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "generation": 2},
}


def reflect_with(lua_registry, body, **limits):
    """A registry whose Widget ReflectStatus runs `body` (which must return a table)."""
    script = f"function ReflectStatus(obj)\n{body}\nend"
    return lua_registry(statusReflection=script, **limits)


def aggregate_with(lua_registry, body):
    script = f"function AggregateStatus(desiredObj, statusItems)\n{body}\nend"
    return lua_registry(statusAggregation=script)


class TestConversion:
    def test_aggregate_sums_and_keeps_ints(self, lua_registry, new_item):
        registry = aggregate_with(
            lua_registry,
            """
            local total = 0
            for i = 1, #statusItems do
              total = total + statusItems[i].status.replicas
            end
            desiredObj.status = {
              replicas = total, ratio = total / 4, generation = desiredObj.metadata.generation
            }
            return desiredObj
            """,
        )
        items = [new_item("b", {"replicas": 2}), new_item("a", {"replicas": 3})]
        result = registry.aggregate(WIDGET, items)
        assert result["status"] == {"replicas": 5, "ratio": 1.25, "generation": 2}
        assert type(result["status"]["replicas"]) is int
        assert result["metadata"] == WIDGET["metadata"]
        assert "status" not in WIDGET

    def test_items_arrive_sorted_in_go_json_form(self, lua_registry, new_item):
        registry = aggregate_with(
            lua_registry,
            """
            local seen = {}
            for i = 1, #statusItems do
              local item = statusItems[i]
              seen[i] = item.clusterName .. ":" .. tostring(item.applied) .. ":" ..
                tostring(item.appliedMessage) .. ":" .. tostring(item.health) .. ":" ..
                tostring(item.status)
            end
            desiredObj.status = {seen = seen}
            return desiredObj
            """,
        )
        items = [
            new_item("b", applied=False),
            new_item("a", {"x": 1}),
            {"clusterName": "c", "applied": False},
        ]
        seen = registry.aggregate(WIDGET, items)["status"]["seen"]
        assert seen[0].startswith("a:true:nil:Healthy:table")
        assert seen[1] == "b:nil:Failed to apply all manifests (0/1): boom:Unknown:nil"
        assert seen[2] == "c:nil:nil:nil:nil"

    def test_no_items_arrive_as_an_empty_table_and_no_list_as_nil(self, lua_registry):
        # Karmada's status controller passes the items it assembled, an empty slice when there
        # are none (a table in Lua); its test harness passes nil for a case without statusItems
        registry = aggregate_with(
            lua_registry,
            "desiredObj.status = {kind = type(statusItems), n = statusItems and #statusItems}\n"
            "return desiredObj",
        )
        assert registry.aggregate(WIDGET, [])["status"] == {"kind": "table", "n": 0}
        assert registry.aggregate(WIDGET, None)["status"] == {"kind": "nil"}

    def test_empty_tables_are_deleted_like_karmada(self, lua_registry):
        registry = reflect_with(
            lua_registry,
            "return {conditions = {}, nested = {list = {}, keep = {1, {}, 2}},"
            " empty = {inner = {}}}",
        )
        assert registry.reflect(WIDGET) == {"nested": {"keep": [1, 2]}, "empty": {}}

    def test_top_level_empty_table_is_an_empty_object(self, lua_registry):
        assert reflect_with(lua_registry, "return {}").reflect(WIDGET) == {}

    def test_large_and_fractional_numbers(self, lua_registry):
        registry = reflect_with(lua_registry, "return {a = 2^53, b = 1e300, c = -0.5, d = 2^63}")
        result = registry.reflect(WIDGET)
        assert result == {"a": 2**53, "b": 1e300, "c": -0.5, "d": 2.0**63}
        assert type(result["a"]) is int
        assert type(result["d"]) is float

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            pytest.param("return {x = 0/0}", "cannot encode the number nan", id="nan"),
            pytest.param("return {x = print}", "cannot encode a Lua function", id="function"),
            pytest.param("return {1, a = 2}", "mixed or non-string keys", id="mixed-keys"),
            pytest.param(
                "local t = {} t[1] = 1 t[3] = 3 return {x = t}", "sparse Lua array", id="sparse"
            ),
            pytest.param("local t = {} t.self = t return t", "nested deeper", id="cycle"),
            pytest.param("return {1, 2}", "with string keys, got a list", id="list"),
            pytest.param("return 'done'", "must return a table, got string", id="string"),
            pytest.param("return nil", "must return a table, got nil", id="nil"),
        ],
    )
    def test_unencodable_results(self, lua_registry, body, message):
        with pytest.raises(InterpreterError, match=message):
            reflect_with(lua_registry, body).reflect(WIDGET)

    def test_health_must_be_boolean(self, lua_registry):
        registry = lua_registry(healthInterpretation="function InterpretHealth(obj) return 1 end")
        with pytest.raises(InterpreterError, match="must return a boolean, got number"):
            registry.health(WIDGET)

    def test_health(self, lua_registry):
        registry = lua_registry(
            healthInterpretation="function InterpretHealth(obj)\n"
            "  return obj.metadata.generation == 2\n"
            "end"
        )
        assert registry.health(WIDGET) is True


class TestSandbox:
    @pytest.mark.parametrize(
        ("body", "message"),
        [
            pytest.param(
                "os.execute('touch /tmp/pwned')", "attempt to call field 'execute'", id="os.execute"
            ),
            pytest.param("io.open('/etc/passwd')", "attempt to index global 'io'", id="io.open"),
            pytest.param("require('os')", "module 'os' not found", id="require-os"),
            pytest.param("require('io')", "module 'io' not found", id="require-io"),
            pytest.param(
                "dofile('/etc/passwd')", "call function dofile is not supported", id="dofile"
            ),
            pytest.param(
                "loadfile('/etc/passwd')", "call function loadfile is not supported", id="loadfile"
            ),
            pytest.param(
                "loadstring('return 1')",
                "call function loadstring is not supported",
                id="loadstring",
            ),
            pytest.param("load(function() end)", "call function load is not supported", id="load"),
            pytest.param(
                "getmetatable('')", "call function getmetatable is not supported", id="getmetatable"
            ),
            pytest.param(
                "setmetatable({}, {})",
                "call function setmetatable is not supported",
                id="setmetatable",
            ),
            pytest.param("getfenv(1)", "call function getfenv is not supported", id="getfenv"),
            pytest.param("rawget(_G, 'x')", "call function rawget is not supported", id="rawget"),
            pytest.param(
                "collectgarbage()",
                "call function collectgarbage is not supported",
                id="collectgarbage",
            ),
            pytest.param(
                "string.rep('x', 1e9)", "call function string.rep is not supported", id="string.rep"
            ),
            pytest.param(
                "('x'):rep(10)", "call function string.rep is not supported", id="method-rep"
            ),
            pytest.param(
                "string.dump(print)", "call function string.dump is not supported", id="string.dump"
            ),
            pytest.param("debug.getinfo(1)", "attempt to index global 'debug'", id="debug"),
            pytest.param("python.eval('1')", "attempt to index global 'python'", id="python"),
            pytest.param(
                "coroutine.create(print)", "attempt to index global 'coroutine'", id="coroutine"
            ),
            pytest.param(
                "package.loadlib('x', 'y')", "attempt to index global 'package'", id="package"
            ),
            pytest.param(
                "local g = require('kube').resourceAdd.__globals__",
                "attempt to index field 'resourceAdd'",
                id="python-attr",
            ),
        ],
    )
    def test_unsafe_functions_are_unavailable(self, lua_registry, body, message):
        registry = reflect_with(lua_registry, f"{body}\nreturn {{}}")
        with pytest.raises(InterpreterError, match=message):
            registry.reflect(WIDGET)

    def test_os_execute_has_no_effect_and_runtime_stays_usable(self, lua_registry, tmp_path):
        marker = tmp_path / "pwned"
        registry = reflect_with(
            lua_registry,
            f"if obj.metadata.name == 'evil' then os.execute('touch {marker}') end\n"
            "return {ok = true}",
        )
        with pytest.raises(InterpreterError, match="attempt to call field 'execute'"):
            registry.reflect({**WIDGET, "metadata": {"name": "evil"}})
        assert not marker.exists()
        assert registry.reflect(WIDGET) == {"ok": True}

    def test_error_names_customization_file_and_line(self, lua_registry):
        registry = reflect_with(lua_registry, "error('boom')")
        with pytest.raises(InterpreterError) as caught:
            registry.reflect(WIDGET)
        message = str(caught.value)
        assert "reflect Widget(w): ReflectStatus (" in message
        assert "ric-0.yaml (widget)): widget.statusReflection:2: boom" in message
        assert "stack traceback" not in message

    def test_safe_libraries_work(self, lua_registry):
        registry = reflect_with(
            lua_registry,
            """
            local kube = require("kube")
            local parts = {}
            for word in string.gmatch("a,b", "[^,]+") do table.insert(parts, word) end
            return {
              cpu = kube.resourceAdd("500m", "1500m", nil),
              memory = kube.resourceAdd("1Gi", "512Mi"),
              year = tonumber(os.date("!%Y")) > 2000,
              now = os.time() > 0,
              joined = table.concat(parts, "+"),
              max = math.max(1, 5),
              upper = string.upper("x"),
            }
            """,
        )
        assert registry.reflect(WIDGET) == {
            "cpu": "2",
            "memory": "1536Mi",
            "year": True,
            "now": True,
            "joined": "a+b",
            "max": 5,
            "upper": "X",
        }

    def test_bad_quantity_is_a_lua_error(self, lua_registry):
        registry = reflect_with(lua_registry, "return {x = require('kube').resourceAdd('lots')}")
        with pytest.raises(InterpreterError, match="resourceAdd: cannot parse quantity"):
            registry.reflect(WIDGET)

    def test_print_goes_to_the_log_not_stdout(self, lua_registry, capsys, caplog):
        registry = reflect_with(lua_registry, "print('hello', 42)\nreturn {}")
        with caplog.at_level(logging.INFO, logger="statusagg.interpreters.lua"):
            registry.reflect(WIDGET)
        assert capsys.readouterr().out == ""
        assert "lua: hello\t42" in caplog.text

    def test_globals_do_not_leak_between_calls(self, lua_registry):
        registry = reflect_with(
            lua_registry, "counter = (counter or 0) + 1\nerror = nil\nreturn {counter = counter}"
        )
        assert registry.reflect(WIDGET) == {"counter": 1}
        assert registry.reflect(WIDGET) == {"counter": 1}

    def test_scripts_of_one_customization_do_not_share_globals(self, lua_registry):
        registry = lua_registry(
            statusReflection="function helper() return 'reflect' end\n"
            "function ReflectStatus(obj) return {who = helper()} end",
            healthInterpretation="function helper() return false end\n"
            "function InterpretHealth(obj) return helper() end",
        )
        assert registry.reflect(WIDGET) == {"who": "reflect"}
        assert registry.health(WIDGET) is False


class TestLimits:
    def test_infinite_loop_times_out_and_runtime_recovers(self, lua_registry):
        registry = lua_registry(
            timeout_s=0.2,
            statusReflection="""
            function ReflectStatus(obj)
              if obj.metadata.name == "loop" then
                while true do end
              end
              return {ok = true}
            end
            """,
        )
        started = time.monotonic()
        with pytest.raises(InterpreterError, match=r"exceeded the time limit of 0\.2s"):
            registry.reflect({**WIDGET, "metadata": {"name": "loop"}})
        assert time.monotonic() - started < 1.0
        assert registry.reflect(WIDGET) == {"ok": True}

    def test_timeout_cannot_be_swallowed_by_pcall(self, lua_registry):
        registry = reflect_with(
            lua_registry,
            "while true do pcall(function() while true do end end) end",
            timeout_s=0.2,
        )
        with pytest.raises(InterpreterError, match="time limit"):
            registry.reflect(WIDGET)

    def test_memory_bomb_fails_and_runtime_recovers(self, lua_registry):
        registry = lua_registry(
            memory_mb=16,
            statusReflection="""
            function ReflectStatus(obj)
              if obj.metadata.name == "bomb" then
                local t = {}
                for i = 1, 1e8 do t[i] = {i} end
              end
              return {ok = true}
            end
            """,
        )
        with pytest.raises(InterpreterError, match="exceeded the memory limit of 16 MiB"):
            registry.reflect({**WIDGET, "metadata": {"name": "bomb"}})
        assert registry.reflect(WIDGET) == {"ok": True}

    def test_string_doubling_bomb(self, lua_registry):
        registry = reflect_with(
            lua_registry,
            "local s = 'x' for i = 1, 40 do s = s .. s end return {n = #s}",
            memory_mb=16,
        )
        with pytest.raises(InterpreterError, match="memory limit"):
            registry.reflect(WIDGET)

    def test_string_where_a_number_belongs(self, lua_registry, new_item):
        registry = aggregate_with(
            lua_registry,
            "local n = 0 for i = 1, #statusItems do n = n + statusItems[i].status.replicas end\n"
            "desiredObj.status = {replicas = n} return desiredObj",
        )
        items = [new_item("m1", {"replicas": 1}), new_item("m2", {"replicas": "three"})]
        with pytest.raises(InterpreterError, match="attempt to perform arithmetic on field"):
            registry.aggregate(WIDGET, items)
        assert registry.aggregate(WIDGET, items[:1])["status"] == {"replicas": 1}

    def test_unbounded_recursion_is_an_error(self, lua_registry):
        registry = reflect_with(lua_registry, "local function f() return 1 + f() end\nf()")
        with pytest.raises(InterpreterError, match="stack overflow"):
            registry.reflect(WIDGET)

    def test_runtime_error_keeps_runtime_usable(self, lua_registry):
        registry = reflect_with(
            lua_registry,
            "if obj.metadata.name == 'bad' then return obj.spec.x + 1 end return {ok = 1}",
        )
        with pytest.raises(InterpreterError, match="attempt to index field 'spec'"):
            registry.reflect({**WIDGET, "metadata": {"name": "bad"}})
        assert registry.reflect(WIDGET) == {"ok": 1}

    def test_concurrent_calls(self, lua_registry, new_item):
        registry = aggregate_with(
            lua_registry,
            "local n = 0 for i = 1, #statusItems do n = n + statusItems[i].status.n end\n"
            "desiredObj.status = {n = n} return desiredObj",
        )
        results, errors = [], []

        def work(count):
            try:
                items = [new_item(f"m{i}", {"n": 1}) for i in range(count)]
                for _ in range(20):
                    results.append((count, registry.aggregate(WIDGET, items)["status"]["n"]))
            except Exception as error:  # pragma: no cover - reported below
                errors.append(error)

        threads = [threading.Thread(target=work, args=(count,)) for count in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert len(results) == 160
        assert all(count == n for count, n in results)


class TestLoadErrors:
    def test_syntax_error_names_file_operation_and_error(self, write_ric, ric):
        from interpreters import build_registry

        path = write_ric(ric(statusAggregation="function AggregateStatus(a, b)\n  return a +\nend"))
        with pytest.raises(CustomizationLoadError) as caught:
            build_registry([path], load_plugins=False)
        message = str(caught.value)
        assert str(path) in message
        assert "'widget' statusAggregation: Lua does not compile" in message
        assert "unexpected symbol near 'end'" in message

    @pytest.mark.parametrize(
        ("script", "message"),
        [
            pytest.param(
                "function Other() end", "does not define function ReflectStatus", id="no-function"
            ),
            pytest.param(
                "ReflectStatus = 1", "does not define function ReflectStatus", id="not-a-function"
            ),
            pytest.param(
                "error('at load')", "widget.statusReflection:1: at load", id="top-level-error"
            ),
            pytest.param("while true do end", "time limit", id="top-level-loop"),
        ],
    )
    def test_script_must_define_its_function(self, write_ric, ric, script, message):
        path = write_ric(ric(statusReflection=script))
        with pytest.raises(CustomizationLoadError, match=message):
            build_registry([path], load_plugins=False, lua=LuaSettings(timeout_s=0.2))
