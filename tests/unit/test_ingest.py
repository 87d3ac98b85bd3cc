"""Validator / parse_status: every bad item is rejected with a reason a person can read."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aggregator.ingest import (
    VALUE_COST,
    Limits,
    RawItem,
    Rejected,
    Validator,
    count_values,
    parse_status,
)
from aggregator.model import Health, ResourceKey

KINDS = {("apps/v1", "Deployment"), ("v1", "Namespace"), ("batch/v1beta1", "CronJob")}
LIMITS = Limits()


def supports(api_version: str, kind: str) -> bool:
    return (api_version, kind) in KINDS


VALIDATOR = Validator(supports, LIMITS)


def raw(**changes: Any) -> RawItem:
    base = RawItem(
        cluster="member-1",
        api_version="apps/v1",
        kind="Deployment",
        namespace="default",
        name="web",
        uid="6a1e",
        status_json=b'{"replicas": 3, "readyReplicas": 2}',
        applied=True,
        applied_message="",
        health="Healthy",
        generation=2,
        observed_generation=2,
        template_generation=5,
        sequence=7,
        removed=False,
    )
    return dataclasses.replace(base, **changes)


def rejected(item: RawItem, validator: Validator = VALIDATOR) -> str:
    with pytest.raises(Rejected) as info:
        validator.validate(item)
    reason = str(info.value)
    assert reason
    assert len(reason) < 400  # readable, not a dump of the input
    return reason


def writable(value: Any) -> None:
    """What the writer will send: strict JSON, encodable as UTF-8."""
    json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")


# --- accepted items -----------------------------------------------------------------------------


def test_valid_item_becomes_a_member_item() -> None:
    item = VALIDATOR.validate(raw())
    assert item.cluster == "member-1"
    assert item.key == ResourceKey("apps/v1", "Deployment", "default", "web")
    assert item.status == {"replicas": 3, "readyReplicas": 2}
    assert item.applied is True
    assert item.health is Health.HEALTHY
    assert (item.generation, item.observed_generation, item.template_generation) == (2, 2, 5)
    assert item.sequence == 7
    assert item.uid == "6a1e"
    assert item.removed is False
    assert item.received_at > 0


@pytest.mark.parametrize(
    "changes",
    [
        {"api_version": "v1", "kind": "Namespace", "namespace": ""},  # cluster-scoped
        {"api_version": "batch/v1beta1", "kind": "CronJob"},
        {"cluster": "eu-west.prod-1"},
        {"cluster": "a" * 253},
        {"name": "a" * 253},
        {"name": "web.v2-1"},
        {"namespace": "a" * 63},
        {"status_json": b""},
        {"status_json": b"{}"},
        {"health": ""},
        {"health": "Unknown"},
        {"health": "Unhealthy"},
        {"generation": None, "observed_generation": None, "template_generation": None},
        {"generation": 0, "observed_generation": 2**63 - 1},
    ],
)
def test_valid_variants_are_accepted(changes: dict[str, Any]) -> None:
    VALIDATOR.validate(raw(**changes))


def test_empty_status_means_no_status() -> None:
    assert VALIDATOR.validate(raw(status_json=b"")).status is None


def test_empty_health_means_unknown() -> None:
    assert VALIDATOR.validate(raw(health="")).health is Health.UNKNOWN


def test_applied_message_is_truncated_to_the_limit() -> None:
    validator = Validator(supports, Limits(max_applied_message=10))
    item = validator.validate(raw(applied=False, status_json=b"", applied_message="x" * 100))
    assert item.applied_message == "x" * 10


def test_not_applied_item_has_no_status() -> None:
    item = VALIDATOR.validate(raw(applied=False, status_json=b""))
    assert item.status is None
    assert item.applied is False


@pytest.mark.parametrize("status", [b'{"replicas": 1}', b"not json at all"])
def test_not_applied_item_with_a_status_is_rejected(status: bytes) -> None:
    assert "applied is false" in rejected(raw(applied=False, status_json=status))


def test_removed_item_has_no_status() -> None:
    item = VALIDATOR.validate(raw(removed=True, status_json=b"[1, 2]"))
    assert item.removed is True
    assert item.status is None


def test_supports_kind_is_asked_with_api_version_and_kind() -> None:
    asked: list[tuple[str, str]] = []

    def spy(api_version: str, kind: str) -> bool:
        asked.append((api_version, kind))
        return True

    Validator(spy, LIMITS).validate(raw(api_version="example.com/v1alpha1", kind="Widget"))
    assert asked == [("example.com/v1alpha1", "Widget")]


# --- rejected items: names, kinds, numbers --------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"cluster": ""}, "cluster is empty"),
        ({"cluster": "Member-1"}, "cluster 'Member-1' is not a valid name"),
        ({"cluster": "member_1"}, "cluster"),
        ({"cluster": "-member"}, "cluster"),
        ({"cluster": "member."}, "cluster"),
        ({"cluster": "a..b"}, "cluster"),
        ({"cluster": "a" * 254}, "cluster"),
        ({"cluster": "member-1\n"}, "cluster"),
        ({"cluster": " member-1"}, "cluster"),
        ({"api_version": ""}, "apiVersion"),
        ({"api_version": "apps/"}, "apiVersion"),
        ({"api_version": "apps"}, "apiVersion"),
        ({"api_version": "Apps/v1"}, "apiVersion"),
        ({"api_version": "apps/v1/x"}, "apiVersion"),
        ({"api_version": "apps/v1\n"}, "apiVersion"),
        ({"api_version": "apps/v1gamma1"}, "apiVersion"),
        ({"kind": ""}, "kind"),
        ({"kind": "deployment"}, "kind 'deployment' is not valid"),
        ({"kind": "Deploy-ment"}, "kind"),
        ({"kind": "D" * 64}, "kind"),
        ({"kind": "Deployment\n"}, "kind"),
        ({"name": ""}, "name is empty"),
        ({"name": "Web"}, "name 'Web' is not a valid name"),
        ({"name": "web/1"}, "name"),
        ({"name": "a" * 254}, "name"),
        ({"name": "web\n"}, "name"),
        ({"namespace": "Default"}, "namespace"),
        ({"namespace": "kube.system"}, "namespace"),  # a label: no dots
        ({"namespace": "a" * 64}, "namespace"),
        ({"namespace": "default\n"}, "namespace"),
        ({"generation": -1}, "generation must be between 0 and 2^63-1, got -1"),
        ({"observed_generation": -5}, "observed_generation"),
        ({"template_generation": -1}, "template_generation"),
        ({"generation": 2**63}, "generation"),
        ({"health": "healthy"}, "health 'healthy' is not Healthy, Unhealthy or Unknown"),
        ({"health": "invalid"}, "health"),
    ],
)
def test_bad_fields_are_rejected(changes: dict[str, Any], reason: str) -> None:
    assert reason in rejected(raw(**changes))


def test_long_values_are_cut_in_the_reason() -> None:
    reason = rejected(raw(name="X" * 10_000))
    assert len(reason) < 200


@pytest.mark.parametrize(
    ("api_version", "kind"), [("apps/v1", "Widget"), ("apps/v2", "Deployment")]
)
def test_unknown_kind_is_rejected(api_version: str, kind: str) -> None:
    reason = rejected(raw(api_version=api_version, kind=kind))
    assert reason == f"no status aggregation interpreter for {kind}.{api_version}"


def test_names_are_checked_before_asking_for_an_interpreter() -> None:
    def never(api_version: str, kind: str) -> bool:
        raise AssertionError("must not be asked")

    assert "name" in rejected(raw(name="Bad"), Validator(never, LIMITS))


# --- rejected items: the status payload ----------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[]", "must be a JSON object, got list"),
        (b"3", "must be a JSON object, got int"),
        (b'"status"', "must be a JSON object, got str"),
        (b"true", "must be a JSON object, got bool"),
        (b"null", "must be a JSON object"),
        (b"{", "not JSON"),
        (b'{"a": 1,}', "not JSON"),
        (b"{'a': 1}", "not JSON"),
        (b'{"a": 1} {"b": 2}', "not JSON"),
        (b" ", "not JSON"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": Infinity}', "Infinity"),
        (b'{"a": [-Infinity]}', "-Infinity"),
        (b'{"a": 1e400}', "status_json"),  # overflows to infinity
        (b'{"a": {"b": -1e999}}', "status_json"),
        (b'{"a": 1, "a": 2}', "key 'a' twice"),
        (b'{"x": {"a": 1, "a": 1}}', "key 'a' twice"),
        (b'{"x": [{"a": 1, "a": 1}]}', "key 'a' twice"),
        (b'{"a": 9223372036854775808}', "beyond 64 bits"),
        (b'{"a": [-9223372036854775809]}', "beyond 64 bits"),
        (b'{"a": 1' + b"0" * 5000 + b"}", "status_json"),  # past Python's int digit limit
        (b'{"a": "\xff"}', "not UTF-8"),
        (b'{"a": "caf\xe9"}', "not UTF-8"),  # Latin-1
        (b'{"a": "\xed\xa0\x80"}', "not UTF-8"),  # an encoded surrogate (CESU-8)
        ('{"a": 1}'.encode("utf-16"), "status_json"),
        ('{"a": 1}'.encode("utf-16-le"), "status_json"),
        ('{"a": 1}'.encode("utf-32"), "status_json"),
        (b'\xef\xbb\xbf{"a": 1}', "status_json"),  # a BOM: Kubernetes (Go) rejects it too
        (b'{"a": "\\ud800"}', "status_json"),  # an unpaired surrogate escape: not Unicode text
        (b'{"\\udfff": 1}', "status_json"),
    ],
)
def test_bad_status_payloads_are_rejected(payload: bytes, reason: str) -> None:
    assert reason in rejected(raw(status_json=payload))


def test_surrogate_pairs_are_fine() -> None:
    item = VALIDATOR.validate(raw(status_json=b'{"emoji": "\\ud83d\\ude00", "e": "\xc3\xa9"}'))
    assert item.status == {"emoji": "\U0001f600", "e": "\xe9"}


def test_64_bit_integers_at_the_edges_are_accepted() -> None:
    payload = json.dumps({"max": 2**63 - 1, "min": -(2**63)}).encode()
    assert VALIDATOR.validate(raw(status_json=payload)).status == {
        "max": 2**63 - 1,
        "min": -(2**63),
    }


def test_large_finite_floats_are_accepted() -> None:
    status = VALIDATOR.validate(raw(status_json=b'{"a": 1.5e308, "b": 1e-400}')).status
    assert status == {"a": 1.5e308, "b": 0.0}


def test_size_limit() -> None:
    validator = Validator(supports, Limits(max_status_bytes=20))
    at_limit = b'{"a": "' + b"x" * 11 + b'"}'
    assert len(at_limit) == 20
    validator.validate(raw(status_json=at_limit))
    reason = rejected(raw(status_json=b'{"a": "' + b"x" * 12 + b'"}'), validator)
    assert reason == "status_json is 21 bytes, over the 20 limit"


def test_default_size_limit_is_checked_before_parsing() -> None:
    huge = b"{" + b" " * (256 * 1024) + b"}"
    assert "over the 262144 limit" in rejected(raw(status_json=huge))


def _nested(depth: int, open_: bytes = b'{"a":', close: bytes = b"}") -> bytes:
    """``depth`` objects inside each other, the innermost holding 1."""
    return open_ * depth + b"1" + close * depth


def test_nesting_within_the_limit_is_accepted() -> None:
    VALIDATOR.validate(raw(status_json=_nested(32)))
    VALIDATOR.validate(raw(status_json=b'{"a":' + b"[" * 31 + b"1" + b"]" * 31 + b"}"))


MANY_VALUES = Validator(supports, Limits(max_status_values=10**6))


@pytest.mark.parametrize("depth", [33, 100, 2000, 20_000])
def test_deep_nesting_is_rejected(depth: int) -> None:
    reason = rejected(raw(status_json=_nested(depth)), MANY_VALUES)
    assert "nested deeper than 32 levels" in reason


@pytest.mark.parametrize("depth", [33, 2000, 100_000])
def test_deep_list_nesting_is_rejected(depth: int) -> None:
    lists = b'{"a":' + b"[" * depth + b"]" * depth + b"}"
    assert "nested deeper than 32 levels" in rejected(raw(status_json=lists), MANY_VALUES)


def test_depth_limit_is_configurable() -> None:
    shallow = Validator(supports, Limits(max_status_depth=2))
    shallow.validate(raw(status_json=b'{"a": {"b": 1}}'))
    assert "deeper than 2 levels" in rejected(raw(status_json=b'{"a": {"b": [1]}}'), shallow)


def test_parse_status_directly() -> None:
    assert parse_status(b"", LIMITS) is None
    parsed = parse_status(b' {"a": [1, 2.5, "x", true, null]} ', LIMITS)
    assert parsed is not None
    assert parsed.value == {"a": [1, 2.5, "x", True, None]}


# --- value counts -----------------------------------------------------------------------------


def test_many_tiny_values_are_rejected_before_parsing() -> None:
    """About 260 KB of nested empty lists: 36 times its size in memory once parsed."""
    hostile = b'{"a":[' + b",".join([b"[[]]"] * 52_000) + b"]}"
    assert len(hostile) < LIMITS.max_status_bytes
    with pytest.raises(Rejected) as info:
        parse_status(hostile, LIMITS)
    assert "104002 JSON values, over the 10000 limit" in str(info.value)
    assert info.value.limit == "status_values"


def test_value_limit_is_exact() -> None:
    limits = Limits(max_status_values=102)
    exactly = json.dumps({"a": list(range(100))}).encode()  # the object, the list, 100 numbers
    over = json.dumps({"a": list(range(100)), "b": 1}).encode()
    parsed = parse_status(exactly, limits)
    assert parsed is not None
    assert parsed.size == len(exactly) + 102 * VALUE_COST
    with pytest.raises(Rejected):
        parse_status(over, limits)


def test_commas_and_brackets_in_strings_are_not_values() -> None:
    text = json.dumps({"message": "a, [b], {c}, " * 5000}).encode()
    parsed = parse_status(text, LIMITS)
    assert parsed is not None
    assert parsed.size == len(text) + 2 * VALUE_COST


# --- properties -----------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_are_parsed_or_rejected(payload: bytes) -> None:
    try:
        status = parse_status(payload, LIMITS)
    except Rejected:
        return
    assert status is None or isinstance(status.value, dict)
    writable(status.value if status else None)


_JSONISH = st.text(alphabet='{}[]":,0123456789.eE-+ \\ufdntrlsaINIyx\xe9\ud800', max_size=60)


@settings(max_examples=200, deadline=None)
@given(_JSONISH, st.sampled_from(["utf-8", "utf-16", "latin-1", "surrogatepass"]))
def test_json_like_text_is_parsed_or_rejected(text: str, encoding: str) -> None:
    """Text close to JSON reaches the deeper checks; accepted statuses are always writable."""
    if encoding == "surrogatepass":
        payload = text.encode("utf-8", "surrogatepass")
    else:
        payload = text.encode(encoding, "replace")
    try:
        status = parse_status(b"{" + payload + b"}", LIMITS)
    except Rejected:
        return
    assert status is not None
    assert isinstance(status.value, dict)
    writable(status.value)


_SAFE_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
)
_STATUS = st.dictionaries(
    st.text(max_size=5),
    st.recursive(
        _SAFE_SCALARS,
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
        max_leaves=20,
    ),
    max_size=5,
)


@settings(max_examples=200, deadline=None)
@given(_STATUS, st.booleans())
def test_valid_json_objects_round_trip(status: dict[str, Any], ascii_only: bool) -> None:
    payload = json.dumps(status, ensure_ascii=ascii_only).encode("utf-8")
    parsed = VALIDATOR.validate(raw(status_json=payload)).status
    assert json.dumps(parsed, sort_keys=True) == json.dumps(status, sort_keys=True)


def _values_in(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(map(_values_in, value.values()))
    if isinstance(value, list):
        return 1 + sum(map(_values_in, value))
    return 1


@settings(max_examples=300, deadline=None)
@given(_STATUS, st.sampled_from([None, 1, 2]), st.booleans())
def test_values_are_counted_without_parsing(
    status: dict[str, Any], indent: int | None, ascii_only: bool
) -> None:
    payload = json.dumps(status, indent=indent, ensure_ascii=ascii_only).encode("utf-8")
    assert count_values(payload) == _values_in(status)


_NAME = st.text(alphabet="abcXYZ019-._/\n ", max_size=12)


@settings(max_examples=200, deadline=None)
@given(
    cluster=_NAME,
    api_version=_NAME,
    kind=st.text(alphabet="DdeploymentX-1\n", max_size=12),
    namespace=_NAME,
    name=_NAME,
    health=st.sampled_from(["", "Healthy", "Unhealthy", "Unknown", "healthy", "x"]),
    generation=st.none() | st.integers(-(2**64), 2**64),
    status_json=st.binary(max_size=40),
    applied=st.booleans(),
)
def test_any_raw_item_is_validated_or_rejected(**fields: Any) -> None:
    item = raw(**fields)
    try:
        member = Validator(lambda a, k: True, LIMITS).validate(item)
    except Rejected:
        return
    for text in (member.cluster, member.key.name, member.key.kind, member.key.api_version):
        assert text
        assert text.strip() == text
        assert "\n" not in text
    assert member.generation is None or 0 <= member.generation < 2**63
    writable(member.status)  # strict JSON: no NaN/Infinity anywhere, valid Unicode


# every JSON object a status may hold; what parse_status returns must be what the strict
# standard-library decoder reads, and the size must count every value
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
_JSON = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=6), _JSON, max_size=5), st.booleans())
def test_parse_status_reads_what_the_strict_decoder_reads(
    value: dict[str, Any], ascii_only: bool
) -> None:
    raw = json.dumps(value, ensure_ascii=ascii_only).encode()
    parsed = parse_status(raw, LIMITS)
    assert parsed is not None
    assert json.dumps(parsed.value, sort_keys=True) == json.dumps(json.loads(raw), sort_keys=True)
    assert parsed.size == len(raw) + VALUE_COST * count_values(raw)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"at": "12:00:00", "a": 1, "a": 2}',  # colons in strings hide the duplicate in a count
        b'{"a": {"t": "x:y", "b": 1, "b": 1}}',
        b'{"m": "\\u003a", "a": 1, "a": 1}',  # an escaped colon
    ],
)
def test_duplicate_keys_are_refused_whatever_the_strings_hold(payload: bytes) -> None:
    with pytest.raises(Rejected, match="twice"):
        parse_status(payload, LIMITS)


@pytest.mark.parametrize("number", [b"18446744073709551616", b"-9223372036854775809", b"1" * 30])
def test_integers_past_64_bits_are_refused_not_read_as_floats(number: bytes) -> None:
    with pytest.raises(Rejected, match="64 bits"):
        parse_status(b'{"n": ' + number + b"}", LIMITS)


def test_large_floats_are_kept() -> None:
    parsed = parse_status(b'{"n": 1e300, "m": -9.3e18}', LIMITS)
    assert parsed is not None
    assert parsed.value == {"n": 1e300, "m": -9.3e18}
