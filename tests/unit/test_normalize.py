"""normalize: the canonical form used for ``==`` comparison and for writing."""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.normalize import (
    comparable,
    comparable_status,
    normalize,
    normalized_status,
    same_json,
)

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**64), 2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=25,
)


def test_drops_nulls_and_empty_containers_in_objects() -> None:
    assert normalize({"a": None, "b": {}, "c": [], "d": 1}) == {"d": 1}


def test_drops_objects_that_become_empty() -> None:
    assert normalize({"a": {"b": {"c": None}}, "d": [1]}) == {"d": [1]}
    assert normalize({"a": {"b": None}}) == {}


def test_keeps_falsy_scalars() -> None:
    value = {"zero": 0, "false": False, "empty": "", "float": 0.0}
    assert normalize(value) == {"zero": 0, "false": False, "empty": "", "float": 0}


def test_keeps_list_elements_even_null_or_empty() -> None:
    """Dropping list elements would change positions; only object members are dropped."""
    assert normalize([None, {}, [], 1]) == [None, {}, [], 1]
    assert normalize({"a": [None]}) == {"a": [None]}


def test_normalizes_inside_lists() -> None:
    assert normalize({"a": [{"x": None, "y": 2.0}]}) == {"a": [{"y": 2}]}


def test_integral_floats_become_ints() -> None:
    out = normalize({"replicas": 3.0, "neg": -2.0, "negzero": -0.0})
    assert out == {"replicas": 3, "neg": -2, "negzero": 0}
    assert all(type(v) is int for v in out.values())
    assert json.dumps(out, sort_keys=True) == '{"neg": -2, "negzero": 0, "replicas": 3}'


def test_non_integral_and_huge_floats_stay_floats() -> None:
    assert normalize(0.5) == 0.5
    assert type(normalize(2.0**63)) is float
    assert type(normalize(-(2.0**63))) is float
    assert type(normalize(1e300)) is float


def test_booleans_are_not_numbers() -> None:
    assert normalize(True) is True
    assert normalize({"a": False}) == {"a": False}
    assert type(normalize({"a": False})["a"]) is bool


def test_conditions_are_sorted_by_type() -> None:
    a = {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Available"}]}
    b = {"conditions": [{"type": "Available"}, {"type": "Ready", "status": "True"}]}
    assert normalize(a) == normalize(b)
    assert [c["type"] for c in normalize(a)["conditions"]] == ["Available", "Ready"]


def test_lists_without_a_type_on_every_element_keep_their_order() -> None:
    assert normalize([3, 1, 2]) == [3, 1, 2]
    mixed = [{"type": "B"}, {"name": "x"}, {"type": "A"}]
    assert normalize(mixed) == mixed
    assert normalize([{"type": "B"}, "A"]) == [{"type": "B"}, "A"]


def test_a_type_dropped_as_null_does_not_count() -> None:
    value = [{"type": "B"}, {"type": None, "x": 1}, {"type": "A"}]
    assert normalize(value) == [{"type": "B"}, {"x": 1}, {"type": "A"}]


def test_input_is_not_changed() -> None:
    value = {"a": None, "c": [{"type": "b"}, {"type": "a"}], "f": 1.0}
    before = copy.deepcopy(value)
    out = normalize(value)
    assert value == before
    assert out is not value


def test_normalized_status() -> None:
    assert normalized_status(None) == {}
    assert normalized_status({}) == {}
    assert normalized_status({"spec": {}}) == {}
    assert normalized_status({"status": None}) == {}
    assert normalized_status({"status": "weird"}) == {}
    assert normalized_status({"status": [1]}) == {}
    assert normalized_status({"status": {"replicas": 2.0, "x": None}}) == {"replicas": 2}


# --- properties ---------------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    """Exact JSON text (tells 1 from 1.0 from true, unlike ``==``)."""
    return json.dumps(value, sort_keys=True)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_idempotent(value: Any) -> None:
    once = normalize(value)
    assert _canonical(normalize(once)) == _canonical(once)


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_output_is_canonical(value: Any) -> None:
    before = _canonical(value)
    out = normalize(value)
    assert _canonical(value) == before  # input untouched

    def check(v: Any) -> None:
        if isinstance(v, dict):
            for child in v.values():
                assert child is not None
                assert child != {}
                assert child != []
                check(child)
        elif isinstance(v, list):
            for child in v:
                check(child)
        elif isinstance(v, float):
            assert not (v.is_integer() and abs(v) < 2**63)
            assert math.isfinite(v)

    check(out)
    assert json.loads(_canonical(out)) == out  # survives a JSON round trip


_CONDITION = st.fixed_dictionaries(
    {"status": st.sampled_from(["True", "False", "Unknown"])},
    optional={"reason": st.text(max_size=3), "lastTransitionTime": st.none()},
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(max_size=5), min_size=2, max_size=6, unique=True),
    st.lists(_CONDITION, min_size=6, max_size=6),
    st.randoms(use_true_random=False),
)
def test_condition_order_never_matters(types: list[str], bodies: list[Any], rnd: Any) -> None:
    conditions = [{"type": t, **body} for t, body in zip(types, bodies, strict=False)]
    shuffled = list(conditions)
    rnd.shuffle(shuffled)
    assert _canonical(normalize({"conditions": conditions})) == _canonical(
        normalize({"conditions": shuffled})
    )


# --- comparable: the form compared with the live object (zero values omitted) ------------------


def test_comparable_omits_zero_values_like_the_api_server() -> None:
    status = {"readyReplicas": 0, "paused": False, "reason": "", "ratio": 0.0, "replicas": 3}
    assert comparable(status) == {"replicas": 3}
    assert comparable({"a": {"b": 0}}) == {}
    assert normalize(status) == {
        "readyReplicas": 0,
        "paused": False,
        "reason": "",
        "ratio": 0,
        "replicas": 3,
    }  # what gets written keeps them


def test_comparable_keeps_zero_values_inside_lists() -> None:
    assert comparable({"a": [0, False, "", None]}) == {"a": [0, False, "", None]}
    assert comparable({"c": [{"type": "B", "n": 0}, {"type": "A"}]}) == {
        "c": [{"type": "A"}, {"type": "B"}]
    }


def test_comparable_status() -> None:
    assert comparable_status(None) == {}
    assert comparable_status({"status": "x"}) == {}
    assert comparable_status({"status": {"a": 0, "b": 1.0}}) == {"b": 1}


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=4), JSON, max_size=4))
def test_comparable_is_idempotent_and_agrees_with_normalize(value: dict[str, Any]) -> None:
    once = comparable(value)
    assert _canonical(comparable(once)) == _canonical(once)
    assert _canonical(comparable(normalize(value))) == _canonical(once)


def test_true_and_one_are_different_json() -> None:
    assert {"ready": 1} == {"ready": True}  # what Python's == says
    assert not same_json({"ready": 1}, {"ready": True})
    assert not same_json([{"a": 1}], [{"a": 1.0}])
    assert same_json({"a": [1, {"b": "x"}]}, {"a": [1, {"b": "x"}]})
