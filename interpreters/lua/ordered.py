"""Tables that iterate in gopher-lua's order, for the sandbox (`runtime`).

gopher-lua (Karmada's Lua) keeps a table's positive integer keys below 2^26 in an array
part and every other key in a hash part that remembers insertion order: a key is appended
the first time it gets a non-nil value, assigning nil leaves it in place (so a key set
again later keeps its first position), and a nil value in a table constructor inserts
nothing. `next` and `pairs` walk the array part in ascending order, then the hash part in
that insertion order, skipping nil values.

`LUA` builds that on PUC Lua. Every table a script creates (`constructors` rewrites its
constructors) and every table made from the JSON arguments carries one shared metatable
whose ``__newindex`` fires exactly when a key absent from the table is assigned and
records it; the recorded orders live in weak tables the scripts cannot reach. ``next``
and ``pairs`` are replaced by ones that walk positive integer keys in ascending order,
then the recorded keys, then any key assigned without ``__newindex`` (``table.insert``
at a position below 1) in PUC order. Tables not made this way (``os.date("*t")``) have
no recorded keys and are walked in PUC order after their array keys.

JSON arguments are built as Karmada's decoder builds them: object members in document
order, null members left out, and null list elements dropped (gopher-json appends list
elements, and appending nil is a no-op).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

SCALAR, NULL, OBJECT, ARRAY = range(4)

LUA = """
local SCALAR, NULL, ARRAY = ... -- the shapes of `flatten`
local rawget, rawset, setmetatable, next, type, select, sort, error, tostring =
  rawget, rawset, setmetatable, next, type, select, table.sort, error, tostring
local MAX_ARRAY_KEY = 67108864 -- gopher-lua's MaxArrayIndex: the array part ends below it

local recorded = setmetatable({}, { __mode = "k" }) -- table -> its keys in insertion order
local positions = setmetatable({}, { __mode = "k" }) -- table -> key -> place in recorded
local walks = setmetatable({}, { __mode = "k" }) -- table -> its order for a running next()

local function is_array_key(key)
  return type(key) == "number" and key >= 1 and key < MAX_ARRAY_KEY and key % 1 == 0
end

local function positions_of(t)
  local places = positions[t]
  if places == nil then
    places = {}
    local keys = recorded[t]
    if keys == nil then
      recorded[t] = {}
    else
      for i = 1, #keys do
        places[keys[i]] = i
      end
    end
    positions[t] = places
  end
  return places
end

local function record(t, key)
  local places = positions_of(t)
  if places[key] == nil then
    local keys = recorded[t]
    local place = #keys + 1
    keys[place] = key
    places[key] = place
  end
end

local ORDERED = {
  __metatable = false,
  __newindex = function(t, key, value)
    rawset(t, key, value)
    if value ~= nil and not is_array_key(key) then
      walks[t] = nil
      record(t, key)
    end
  end,
}

local pending, pending_count = {}, 0

local function key_mark(key)
  pending_count = pending_count + 1
  pending[pending_count] = key
  return key
end

local function new_table(t, ...)
  setmetatable(t, ORDERED)
  local count = select("#", ...)
  if count == 0 then
    return t
  end
  local keys = { ... }
  local marks = 0
  for i = 1, count do
    if keys[i] == key_mark then
      marks = marks + 1
    end
  end
  if marks > 0 then
    local from = pending_count - marks
    local taken = 0
    for i = 1, count do
      if keys[i] == key_mark then
        taken = taken + 1
        keys[i] = pending[from + taken]
        pending[from + taken] = nil
      end
    end
    pending_count = from
  end
  local order, places, size = {}, {}, 0
  for i = 1, count do
    local key = keys[i]
    if key ~= nil and not is_array_key(key) and places[key] == nil and rawget(t, key) ~= nil then
      size = size + 1
      order[size] = key
      places[key] = size
    end
  end
  if size > 0 then
    recorded[t] = order
    positions[t] = places
  end
  return t
end

-- The order of a walk over t: n, the length of its run of keys 1..n, then every other key.
local function walk_of(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do
    n = n + 1
  end
  local ints, extras = {}, {}
  local places = recorded[t] and positions_of(t) or {}
  for key in next, t do
    if is_array_key(key) then
      if key > n then
        ints[#ints + 1] = key
      end
    elseif places[key] == nil then
      extras[#extras + 1] = key
    end
  end
  sort(ints)
  local rest, at = ints, {}
  for i = 1, #ints do
    at[ints[i]] = i
  end
  local keys = recorded[t]
  if keys ~= nil then
    for i = 1, #keys do
      rest[#rest + 1] = keys[i]
      at[keys[i]] = #rest
    end
  end
  for i = 1, #extras do
    rest[#rest + 1] = extras[i]
    at[extras[i]] = #rest
  end
  local walk = { n = n, rest = rest, at = at }
  walks[t] = walk
  return walk
end

local function ordered_next(t, key)
  if type(t) ~= "table" then
    error("bad argument #1 to 'next' (table expected, got " .. type(t) .. ")", 2)
  end
  local from
  if key == nil then
    walks[t] = nil
    local value = rawget(t, 1)
    if value ~= nil then
      return 1, value
    end
    from = 0
  elseif is_array_key(key) and key + 1 < MAX_ARRAY_KEY then
    local value = rawget(t, key + 1)
    if value ~= nil then
      return key + 1, value
    end
  end
  local walk = walks[t] or walk_of(t)
  if from == nil then
    if is_array_key(key) and key <= walk.n then
      for i = key + 1, walk.n do
        local value = rawget(t, i)
        if value ~= nil then
          return i, value
        end
      end
      from = 0
    else
      from = walk.at[key]
      if from == nil then
        error("invalid key to 'next'", 2)
      end
    end
  else
    for i = 1, walk.n do
      local value = rawget(t, i)
      if value ~= nil then
        return i, value
      end
    end
  end
  local rest = walk.rest
  for i = from + 1, #rest do
    local k = rest[i]
    local value = rawget(t, k)
    if value ~= nil then
      return k, value
    end
  end
  return nil
end

local function ordered_pairs(...)
  local t = ...
  if type(t) ~= "table" then
    local got = select("#", ...) == 0 and "no value" or type(t)
    error("bad argument #1 to 'pairs' (table expected, got " .. got .. ")", 2)
  end
  return ordered_next, t, nil
end

-- Rebuild JSON values from the flat form of `flatten`: shapes and scalars in document order.
local shapes, scalars, shape_at, scalar_at
local function decode_value()
  shape_at = shape_at + 1
  local shape = shapes[shape_at]
  if shape == SCALAR then
    scalar_at = scalar_at + 1
    return scalars[scalar_at]
  elseif shape == NULL then
    return nil
  end
  shape_at = shape_at + 1
  local count = shapes[shape_at]
  local t = setmetatable({}, ORDERED)
  if shape == ARRAY then
    local size = 0
    for _ = 1, count do
      local value = decode_value()
      if value ~= nil then
        size = size + 1
        t[size] = value
      end
    end
  else
    local keys, places, size = {}, {}, 0
    for _ = 1, count do
      scalar_at = scalar_at + 1
      local key = scalars[scalar_at]
      local value = decode_value()
      if value ~= nil and places[key] == nil then
        size = size + 1
        keys[size] = key
        places[key] = size
      end
      rawset(t, key, value)
    end
    recorded[t] = keys
    positions[t] = places
  end
  return t
end

local function decode(count, shape_list, scalar_list)
  shapes, scalars, shape_at, scalar_at = shape_list, scalar_list, 0, 0
  local values = {}
  for i = 1, count do
    values[i] = decode_value()
  end
  shapes, scalars = nil, nil
  return values
end

local function reset()
  pending, pending_count = {}, 0
end

return new_table, key_mark, ordered_next, ordered_pairs, decode, reset
"""


def flatten(values: Sequence[Any]) -> tuple[list[int], list[Any]]:
    """JSON values as shapes (`SCALAR`, `NULL`, `OBJECT` n, `ARRAY` n) and scalars, in order.

    An object's keys are scalars too, each before its value. Iterative, so nesting depth
    is bounded by memory only, never by Python's recursion limit.
    """
    shapes: list[int] = []
    scalars: list[Any] = []
    stack: list[tuple[Iterator[Any], bool]] = [(iter(values), False)]
    while stack:
        members, is_object = stack[-1]
        for value in members:
            if is_object:
                key, value = value
                scalars.append(key)
            if value is None:
                shapes.append(NULL)
            elif isinstance(value, dict):
                shapes += (OBJECT, len(value))
                stack.append((iter(value.items()), True))
                break
            elif isinstance(value, list):
                shapes += (ARRAY, len(value))
                stack.append((iter(value), False))
                break
            else:
                shapes.append(SCALAR)
                scalars.append(value)
        else:
            stack.pop()
    return shapes, scalars
