"""writer.merge_patch: an RFC 7386 JSON merge patch from old to new."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.normalize import normalize
from aggregator.writer import merge_patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 section 2, verbatim (returns a new value)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = apply_merge_patch(result.get(name), value)
    return result


def exact(value: Any) -> str:
    """Exact JSON text: ``1``, ``1.0`` and ``true`` all differ (Python's ``==`` says equal)."""
    return json.dumps(value, sort_keys=True)


def test_local_apply_matches_rfc_7386_appendix_a() -> None:
    cases = [
        ({"a": "b"}, {"a": "c"}, {"a": "c"}),
        ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
        ({"a": "b"}, {"a": None}, {}),
        ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
        ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
        ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
        ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
        ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
        (["a", "b"], ["c", "d"], ["c", "d"]),
        ({"a": "b"}, ["c"], ["c"]),
        ({"a": "foo"}, None, None),
        ({"a": "foo"}, "bar", "bar"),
        ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
        ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
        ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
    ]
    for target, patch, result in cases:
        assert apply_merge_patch(target, patch) == result


@pytest.mark.parametrize(
    ("old", "new", "patch"),
    [
        ({"a": 1}, {"a": 1}, {}),
        ({"a": 1}, {"a": 2}, {"a": 2}),
        ({"a": 1}, {}, {"a": None}),
        ({}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3}}, {"a": {"c": 3}}),
        ({"a": {"b": 1}}, {"a": {}}, {"a": {"b": None}}),
        ({"a": [1, 2]}, {"a": [2, 1]}, {"a": [2, 1]}),  # lists are replaced whole
        ({"a": [{"b": 1}]}, {"a": [{"b": 2}]}, {"a": [{"b": 2}]}),
        ({"a": 1}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": 1}}, {"a": 1}, {"a": 1}),
        ({"a": 1, "keep": {"x": [1]}}, {"b": 2, "keep": {"x": [1]}}, {"a": None, "b": 2}),
    ],
)
def test_minimal_patches(old: Any, new: Any, patch: Any) -> None:
    assert merge_patch(old, new) == patch
    assert exact(apply_merge_patch(old, merge_patch(old, new))) == exact(new)


def test_non_object_new_replaces_everything() -> None:
    assert merge_patch({"a": 1}, [1]) == [1]
    assert merge_patch([1], {"a": 1}) == {"a": 1}
    assert merge_patch("x", "y") == "y"


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ({"ready": 1}, {"ready": True}),
        ({"ready": True}, {"ready": 1}),
        ({"n": 0}, {"n": False}),
        ({"n": 1.0}, {"n": 1}),
        ({"n": 1}, {"n": 1.0}),
        ({"a": [1, 0]}, {"a": [True, False]}),
        ({"a": {"b": 1}}, {"a": {"b": True}}),
    ],
)
def test_type_changes_that_python_calls_equal_are_patched(old: Any, new: Any) -> None:
    """``1 == True`` and ``1 == 1.0`` in Python, not in JSON: the patch must still carry them."""
    assert exact(apply_merge_patch(old, merge_patch(old, new))) == exact(new)


def test_inputs_are_not_changed() -> None:
    old = {"a": {"b": 1, "c": [1]}, "d": 1}
    new = {"a": {"b": 2}, "e": {"f": 1}}
    old_before, new_before = copy.deepcopy(old), copy.deepcopy(new)
    merge_patch(old, new)
    assert (old, new) == (old_before, new_before)


# --- properties -----------------------------------------------------------------------------------

_SCALARS = (
    st.sampled_from([0, 1, 0.0, 1.0, 0.5, True, False, "", "1"])  # values == calls equal
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3)
)
_KEYS = st.sampled_from(["a", "b", "c", "d"])  # few names, so old and new overlap often


def _json(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, max_size=4)
        ),
        max_leaves=20,
    )


_NO_NULLS = st.dictionaries(_KEYS, _json(_SCALARS), max_size=4)
_ANY = st.dictionaries(_KEYS, _json(st.none() | _SCALARS), max_size=4)


@settings(max_examples=200, deadline=None)
@given(_NO_NULLS, _NO_NULLS)
def test_applying_the_patch_to_old_gives_new(old: Any, new: Any) -> None:
    """Exact for objects without null members (a merge patch cannot set a value to null)."""
    patch = merge_patch(old, new)
    assert exact(apply_merge_patch(old, patch)) == exact(new)
    if exact(old) == exact(new):
        assert patch == {}


@settings(max_examples=200, deadline=None)
@given(_ANY, _ANY)
def test_patch_between_normalized_statuses(old: Any, new: Any) -> None:
    """What the writer does: both sides normalised (no nulls), so the patch is exact."""
    old_n, new_n = normalize(old), normalize(new)
    assert exact(apply_merge_patch(old_n, merge_patch(old_n, new_n))) == exact(new_n)


def _twins(value: Any) -> list[Any]:
    """Values of another JSON type that Python's ``==`` calls equal to ``value``."""
    return [c for c in (True, False, 1, 0, 1.0, 0.0) if c == value and type(c) is not type(value)]


def _perturb(data: st.DataObject, value: Any) -> Any:
    """A value close to ``value``: some members kept, changed, dropped or added."""
    if isinstance(value, dict):
        out = {}
        for name, child in value.items():
            choice = data.draw(st.sampled_from(["change", "keep", "drop"]))
            if choice == "keep":
                out[name] = child
            elif choice == "change":
                out[name] = _perturb(data, child)
        for name in data.draw(st.lists(_KEYS, max_size=2)):
            if name not in value:
                out[name] = data.draw(_json(_SCALARS))
        return out
    if isinstance(value, list):
        return [_perturb(data, child) if data.draw(st.booleans()) else child for child in value]
    twins = _twins(value)
    return data.draw((st.sampled_from(twins) if twins else st.nothing()) | _json(_SCALARS))


@settings(max_examples=200, deadline=None)
@given(_NO_NULLS, st.data())
def test_applying_the_patch_to_old_gives_a_nearby_new(old: Any, data: st.DataObject) -> None:
    """Like the test above, with ``new`` a small edit of ``old`` (where minimal diffs go wrong)."""
    new = _perturb(data, old)
    patch = merge_patch(old, new)
    assert exact(apply_merge_patch(old, patch)) == exact(new)
    # the patch names nothing that did not change
    for name, value in patch.items() if isinstance(patch, dict) else ():
        assert name not in old or name not in new or exact(old[name]) != exact(new[name])
        assert value is not None or name not in new
