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
records it; the recorded orders live in weak tables the scripts cannot reach, and the
metatable is protected. ``next`` and ``pairs`` are replaced by ones that walk positive
integer keys in ascending order, then the recorded keys, then any key assigned without
``__newindex`` (``table.insert`` at a position below 1) in PUC order. Tables not made
this way (``os.date("*t")``) have no recorded keys and are walked in PUC order after
their integer keys. ``ipairs``, ``#`` and the table library work on the raw table.

JSON arguments reach Lua as Karmada's decoder builds them, with null members left out
and null list elements dropped (gopher-json appends list elements, and appending nil is
a no-op). Karmada decodes objects through Go maps, so the order of an argument's keys is
random there; here they are recorded sorted, the order of the JSON Karmada encodes (sorted
lazily: most argument objects are read, never walked or extended).
"""

from __future__ import annotations

LUA = """
local rawget, rawset, setmetatable, next, ipairs, type, select, sort, maxn, error =
  rawget, rawset, setmetatable, next, ipairs, type, select, table.sort, table.maxn, error
local MAX_ARRAY_KEY = 67108864 -- gopher-lua's MaxArrayIndex: the array part ends below it

local recorded = setmetatable({}, { __mode = "k" }) -- table -> its keys in insertion order
local positions = setmetatable({}, { __mode = "k" }) -- table -> key -> place in recorded
local walks = setmetatable({}, { __mode = "k" }) -- table -> its order for a running next()

local function is_array_key(key)
  return type(key) == "number" and key >= 1 and key < MAX_ARRAY_KEY and key % 1 == 0
end

-- An argument object's keys are sorted when first needed (most are never walked or extended);
-- until then the key list holds SORT_PENDING at index 0.
local SORT_PENDING = {}
local function recorded_keys(t)
  local keys = recorded[t]
  if keys ~= nil and keys[0] == SORT_PENDING then
    keys[0] = nil
    sort(keys)
  end
  return keys
end

local function positions_of(t)
  local places = positions[t]
  if places == nil then
    places = {}
    local keys = recorded_keys(t)
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
    -- is_array_key inlined: appending to a list is the hot path
    if type(key) ~= "number" or key < 1 or key >= MAX_ARRAY_KEY or key % 1 ~= 0 then
      if value ~= nil then
        walks[t] = nil
        record(t, key)
      end
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
    local from = pending_count > marks and pending_count - marks or 0
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
  local size = 0
  for i = 1, count do
    local key = keys[i]
    keys[i] = nil
    if key ~= nil and not is_array_key(key) and rawget(t, key) ~= nil then
      local seen = false
      for j = 1, size do
        if keys[j] == key then
          seen = true
          break
        end
      end
      if not seen then
        size = size + 1
        keys[size] = key
      end
    end
  end
  if size > 0 then
    recorded[t] = keys
  end
  return t
end

-- The order of a walk over t: n, the length of its run of keys 1..n, then every other key.
local NONE = {}
local function walk_of(t)
  local n = 0
  while rawget(t, n + 1) ~= nil do
    n = n + 1
  end
  local keys = recorded_keys(t)
  local places = keys and positions_of(t) or NONE
  local ints, extras
  for key in next, t do
    if is_array_key(key) then
      if key > n then
        ints = ints or {}
        ints[#ints + 1] = key
      end
    elseif places[key] == nil then
      extras = extras or {}
      extras[#extras + 1] = key
    end
  end
  local walk
  if ints == nil and extras == nil then
    walk = { n = n, rest = keys or NONE, at = places }
  else
    local rest, at = ints or {}, {}
    sort(rest)
    for i = 1, #rest do
      at[rest[i]] = i
    end
    for _, more in ipairs({ keys or NONE, extras or NONE }) do
      for i = 1, #more do
        rest[#rest + 1] = more[i]
        at[more[i]] = #rest
      end
    end
    walk = { n = n, rest = rest, at = at }
  end
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
  local rest = walk.rest
  if from == nil then
    from = walk.at[key]
    if from == nil and is_array_key(key) then
      -- a key of the run 1..n, or one whose value was removed before this walk was made:
      -- go on with the next integer key after it
      for i = key + 1, walk.n do
        local value = rawget(t, i)
        if value ~= nil then
          return i, value
        end
      end
      from = 0
      while is_array_key(rest[from + 1]) and rest[from + 1] <= key do
        from = from + 1
      end
    elseif from == nil then
      error("invalid key to 'next'", 2)
    end
  else
    for i = 1, walk.n do
      local value = rawget(t, i)
      if value ~= nil then
        return i, value
      end
    end
  end
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

-- Order the tables lupa makes from JSON arguments: an object's keys (all strings) sorted,
-- a list (lupa leaves a hole for each null element) closed up.
local function adopt(t)
  setmetatable(t, ORDERED)
  local first = next(t)
  if type(first) == "number" then -- a list: its keys are numbers, an object's strings
    local size = 0
    for i = 1, maxn(t) do
      local value = rawget(t, i)
      if value ~= nil then
        size = size + 1
        if size ~= i then
          rawset(t, size, value)
          rawset(t, i, nil)
        end
        if type(value) == "table" then
          adopt(value)
        end
      end
    end
  elseif first ~= nil then
    local keys, size = {}, 0
    for key, value in next, t do
      size = size + 1
      keys[size] = key
      if type(value) == "table" then
        adopt(value)
      end
    end
    if size > 1 then
      keys[0] = SORT_PENDING
    end
    recorded[t] = keys
  end
end

local function adopt_arguments(count, args)
  for i = 1, count do
    if type(args[i]) == "table" then
      adopt(args[i])
    end
  end
end

local function reset()
  pending, pending_count = {}, 0
end

return new_table, key_mark, ordered_next, ordered_pairs, adopt_arguments, reset
"""
