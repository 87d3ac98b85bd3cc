"""Lua tables iterate in gopher-lua's order (Karmada's Lua), not PUC Lua's hash order.

The expected orders follow gopher-lua's LTable (table.go): positive integer keys below
2^26 (MaxArrayIndex) live in an array part walked first in ascending order; every other
key is appended to a `keys` slice the first time it is set to a non-nil value
(RawSetString/RawSetH), setting it to nil deletes the value but leaves the key in the slice,
so setting it again keeps its first place; `Next` walks the array part, then `keys`,
skipping nil values. A constructor sets its keyed fields in source order (compileTableExpr
emits one SETTABLE per field); gopher-json appends list elements (nil is not appended)
and sets object members (a nil member is not set).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interpreters.errors import CustomizationLoadError, InterpreterError
from interpreters.lua.constructors import rewrite
from interpreters.lua.convert import to_json_object
from interpreters.lua.loader import Script
from interpreters.lua.runtime import SandboxedRuntime
from interpreters.model import Operation

ORDER = """
local function order(t)
  local keys = {}
  for k, v in pairs(t) do
    keys[#keys + 1] = tostring(k) .. "=" .. (type(v) == "table" and "table" or tostring(v))
  end
  return table.concat(keys, " ")
end
"""


def run(body: str, *args: Any) -> Any:
    """The `result` field of what `body`, the body of ReflectStatus(obj), returns."""
    code = f"{ORDER}\nfunction ReflectStatus(obj)\n{body}\nend"
    script = Script(Operation.REFLECT, code, "order", "order.yaml")
    runtime = SandboxedRuntime({Operation.REFLECT: script}, timeout_s=5, memory_bytes=2**25)
    arguments = args or ({},)
    result = runtime.call(
        Operation.REFLECT, arguments, lambda value: to_json_object(value, "ReflectStatus")
    )
    return result.get("result")


class TestGopherOrder:
    def test_keys_iterate_in_insertion_order(self):
        body = "local t = {}; t.c = 1; t.a = 2; t.b = 3; t.aa = 4; return {result = order(t)}"
        assert run(body) == "c=1 a=2 b=3 aa=4"

    def test_deleted_key_is_skipped_and_keeps_its_place_when_set_again(self):
        body = """
        local t = {}
        t.c = 1; t.a = 2; t.b = 3
        t.a = nil
        local deleted = order(t)
        t.d = 4
        t.a = 5
        return {result = {deleted, order(t)}}
        """
        assert run(body) == ["c=1 b=3", "c=1 a=5 b=3 d=4"]

    def test_assigning_nil_to_an_absent_key_inserts_nothing(self):
        body = "local t = {}; t.x = nil; t.y = 1; t.x = 2; return {result = order(t)}"
        assert run(body) == "y=1 x=2"

    def test_overwriting_a_value_keeps_the_place(self):
        body = "local t = {}; t.p = 1; t.q = 2; t.p = 3; return {result = order(t)}"
        assert run(body) == "p=3 q=2"

    def test_constructor_keys_in_source_order_nil_fields_not_inserted(self):
        body = """
        local t = {zeta = 1, alpha = nil, ["mid"] = 3, omega = 4, zeta = 5}
        local before = order(t)
        t.alpha = 2
        return {result = {before, order(t)}}
        """
        # the second zeta overwrites the first, which keeps its place
        assert run(body) == ["zeta=5 mid=3 omega=4", "zeta=5 mid=3 omega=4 alpha=2"]

    def test_computed_constructor_keys_in_evaluation_order(self):
        body = """
        local seen = {}
        local function key(name) seen[#seen + 1] = name; return name end
        local t = {[key("q")] = 1, m = 2, [key("p")] = {[key("y")] = 1, [key("x")] = 2},
                   [key("n")] = 4}
        return {result = {order(t), order(t.p), table.concat(seen, ",")}}
        """
        assert run(body) == ["q=1 m=2 p=table n=4", "y=1 x=2", "q,p,y,x,n"]

    def test_array_part_first_in_ascending_order_whatever_the_insertion_order(self):
        body = """
        local t = {}
        t.b = "x"; t[3] = "c"; t[1] = "a"; t.a = "y"; t[2] = "b"; t[10] = "j"
        return {result = order(t)}
        """
        assert run(body) == "1=a 2=b 3=c 10=j b=x a=y"

    def test_other_numeric_keys_are_hash_keys_in_insertion_order(self):
        body = """
        local t = {}
        t.k = 1; t[2^26] = 2; t[0] = 3; t[-1] = 4; t[1.5] = 5; t[2^26 - 1] = 6
        return {result = order(t)}
        """
        assert run(body) == "67108863=6 k=1 67108864=2 0=3 -1=4 1.5=5"

    def test_holes_in_the_array_part_are_skipped(self):
        body = "local t = {'a', 'b', 'c', 'd'}; t[2] = nil; t[4] = nil; return {result = order(t)}"
        assert run(body) == "1=a 3=c"

    def test_constructor_call_argument_and_nested_tables(self):
        body = """
        local function first(t) return t end
        local t = first{b = 1, a = {d = 1, c = 2}, 5}
        local u = first
        {y = 1, x = 2}
        return {result = {order(t), order(t.a), order(u)}}
        """
        assert run(body) == ["1=5 b=1 a=table", "d=1 c=2", "y=1 x=2"]

    def test_input_objects_iterate_in_sorted_key_order(self):
        # Karmada decodes objects through Go maps (random order); statusagg sorts the keys,
        # the order of the JSON Karmada encodes before decoding it
        obj = {"zeta": 1, "alpha": {"m": 1, "b": 2}, "gone": None, "mid": [1, None, 3]}
        body = "return {result = {order(obj), order(obj.alpha), #obj.mid, order(obj.mid)}}"
        # gopher-json sets no nil member and appends no nil list element
        assert run(body, obj) == ["alpha=table mid=table zeta=1", "b=2 m=1", 2, "1=1 2=3"]

    def test_input_object_keys_set_again_keep_their_place(self):
        obj = {"c": 1, "a": 2, "b": 3}
        body = "obj.a = nil; obj.d = 4; obj.a = 5; obj.aa = 6; return {result = order(obj)}"
        assert run(body, obj) == "a=5 b=3 c=1 d=4 aa=6"

    def test_next_follows_the_same_order(self):
        body = """
        local t = {}
        t.c = 1; t[2] = "two"; t.a = 2; t.b = 3
        local keys, k = {}, nil
        repeat
          k = next(t, k)
          if k ~= nil then keys[#keys + 1] = tostring(k) end
        until k == nil
        return {result = {table.concat(keys, " "), next({}) == nil, (next(t))}}
        """
        assert run(body) == ["2 c a b", True, 2]

    def test_clearing_a_table_during_traversal(self):
        body = """
        local t = {a = 1, b = 2, 'x', 'y'}
        for k in pairs(t) do t[k] = nil end
        return {result = {next(t) == nil, order(t)}}
        """
        assert run(body) == [True, ""]

    def test_table_library_ipairs_and_length_are_unchanged(self):
        body = """
        local t = {}
        table.insert(t, "b"); table.insert(t, "a"); table.insert(t, 1, "c"); t.n = 1
        table.remove(t, 2)
        table.sort(t)
        local seen = {}
        for i, v in ipairs(t) do seen[i] = v end
        return {result = {#t, table.concat(seen, ","), order(t)}}
        """
        assert run(body) == [2, "a,c", "1=a 2=c n=1"]

    def test_tables_made_by_the_library_iterate_too(self):
        body = "local n = 0; for _ in pairs(os.date('*t', 0)) do n = n + 1 end; return {result = n}"
        assert run(body) == 9

    def test_results_still_convert_to_json(self):
        body = "local t = {b = {1, 2}, a = {z = true}}; t.c = 'x'; return {result = t}"
        assert run(body) == {"b": [1, 2], "a": {"z": True}, "c": "x"}

    @pytest.mark.parametrize(
        ("call", "message"),
        [
            ("pairs(nil)", "bad argument #1 to 'pairs' (table expected, got nil)"),
            ("pairs()", "bad argument #1 to 'pairs' (table expected, got no value)"),
            ("next('x')", "bad argument #1 to 'next' (table expected, got string)"),
            ("next({a = 1}, 'b')", "invalid key to 'next'"),
            ("getmetatable({})", "getmetatable is not supported"),
            ("local t = {}; t[nil] = 1", "table index is nil"),
        ],
    )
    def test_errors(self, call, message):
        with pytest.raises(InterpreterError, match=message.replace("(", r"\(").replace(")", r"\)")):
            run(f"{call}\nreturn {{}}")


class TestRewrite:
    def test_braces_in_strings_and_comments_are_not_constructors(self):
        code = "local s = \"{a=1}\" .. '}' .. [[{]] -- {\n--[==[ { ]==] local t = {}"
        assert rewrite(code).count("__statusagg_table(") == 1

    def test_commas_inside_a_function_in_a_constructor_are_not_separators(self):
        code = (
            "local t = {f = function(a, b) local c, d = a, b; if c then return {x=d} end end, g=1}"
        )
        rewritten = rewrite(code)
        assert rewritten.endswith(', "x") end end, g=1}, "f", "g")')

    def test_line_numbers_are_kept(self):
        code = 'local t = {a = [[\nx]],\n[ [[k\n]] ] = 1,\n b = f\n{}}\nerror("here")'
        assert rewrite(code).count("\n") == code.count("\n")

    def test_the_helpers_are_no_global_and_the_chunk_gets_no_arguments(self):
        code = (
            "local count = select('#', ...)\n"
            "function ReflectStatus(obj)\n"
            "  return {count = count, helpers = type(__statusagg_helpers)}\n"
            "end"
        )
        script = Script(Operation.REFLECT, code, "o", "o.yaml")
        runtime = SandboxedRuntime({Operation.REFLECT: script}, timeout_s=5, memory_bytes=2**25)
        result = runtime.call(Operation.REFLECT, ({},), lambda value: to_json_object(value, "R"))
        assert result == {"count": 0, "helpers": "nil"}

    def test_a_script_error_still_names_its_line(self):
        with pytest.raises(InterpreterError, match=r"order.statusReflection:\d+: boom"):
            run('local t = {a = {b = 1}}\nerror("boom")')

    def test_a_syntax_error_gets_lua_s_own_message(self):
        script = Script(Operation.REFLECT, "function ReflectStatus(obj) return {} ", "o", "o.yaml")
        with pytest.raises(CustomizationLoadError, match=r"o\.yaml: .*'end' expected"):
            SandboxedRuntime({Operation.REFLECT: script}, timeout_s=5, memory_bytes=2**25)


KEYS = st.sampled_from(["a", "b", "c", "zz", 1, 2, 3, 7, 0, -1, 1.5, 2**26])
OPERATIONS = st.lists(st.tuples(KEYS, st.one_of(st.none(), st.integers(0, 9))), max_size=30)
_REPLAY = Script(
    Operation.REFLECT,
    ORDER
    + """
    function ReflectStatus(obj)
      local t = {}
      for _, op in ipairs(obj.ops) do
        t[op.k] = op.v
      end
      return {result = order(t)}
    end
    """,
    "replay",
    "replay.yaml",
)


@cache
def _replay_runtime() -> SandboxedRuntime:
    return SandboxedRuntime({Operation.REFLECT: _REPLAY}, timeout_s=5, memory_bytes=2**25)


def gopher_order(operations: list[tuple[Any, int | None]]) -> str:
    """The walk gopher-lua's LTable gives after the assignments, by the rules in the docstring."""
    array: dict[int, int] = {}
    keys: list[Any] = []
    values: dict[Any, int] = {}
    for key, value in operations:
        if isinstance(key, int) and 0 < key < 2**26:
            if value is None:
                array.pop(key, None)
            else:
                array[key] = value
        elif value is None:
            values.pop(key, None)
        else:
            values[key] = value
            if key not in keys:
                keys.append(key)
    walk = [(key, array[key]) for key in sorted(array)]
    walk += [(key, values[key]) for key in keys if key in values]
    return " ".join(f"{key}={value}" for key, value in walk)


@settings(max_examples=200, deadline=None)
@given(OPERATIONS)
def test_walks_match_gopher_lua_after_any_assignments(operations):
    ops = [{"k": key} if value is None else {"k": key, "v": value} for key, value in operations]
    result = _replay_runtime().call(
        Operation.REFLECT, ({"ops": ops},), lambda value: to_json_object(value, "ReflectStatus")
    )
    assert result.get("result", "") == gopher_order(operations)
