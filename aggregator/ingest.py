"""Validate reported items: every bad item is rejected with a reason a person can read."""

from __future__ import annotations

import json
import math
import re
import sys
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from aggregator.model import Health, MemberItem, ResourceKey
from aggregator.rejection import RejectReason

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_API_VERSION = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?$")
_KIND = re.compile(r"^[A-Z][A-Za-z0-9]{0,62}$")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_TWO_63 = float(2**63)
# a \uXXXX escape of a surrogate: only then can a decoded string hold an unpaired one
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# what one JSON value costs in memory beyond its bytes (a small Python object), for quotas
VALUE_COST = 64


class Rejected(ValueError):
    """The item cannot be accepted; the message is the reason sent back to the agent.

    ``reason`` is its category and ``limit`` names the configured bound it exceeded, if any
    (metric labels)."""

    def __init__(self, reason: RejectReason, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.limit = limit


@dataclass(slots=True)
class RawItem:
    """A reported item before validation (the transport's fields, decoded to Python)."""

    cluster: str
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str
    status_json: bytes
    applied: bool
    applied_message: str
    health: str
    generation: int | None
    observed_generation: int | None
    template_generation: int | None
    sequence: int
    removed: bool


@dataclass(frozen=True)
class Limits:
    max_status_bytes: int = 256 * 1024
    max_status_values: int = 10_000
    max_status_depth: int = 32
    max_applied_message: int = 4096


def _reject_constant(name: str) -> Any:
    raise Rejected(
        RejectReason.INVALID_STATUS, f"status_json contains {name}, which is not valid JSON"
    )


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise Rejected(RejectReason.INVALID_STATUS, f"status_json has the key {name!r} twice")
        result[name] = value
    return result


def count_values(raw: bytes) -> int:
    """The number of JSON values in a valid JSON text, without parsing it.

    Every value but the first follows a ``,`` or opens a non-empty container; strings are
    replaced first so their commas and brackets do not count."""
    bare = _STRING.sub(b"0", raw).translate(None, b" \t\n\r")
    opened = bare.count(b"[") + bare.count(b"{") - bare.count(b"[]") - bare.count(b"{}")
    return bare.count(b",") + opened + 1


def _check_values(value: Any, max_depth: int) -> int:
    """Check depth and numbers; return how many values ``value`` holds."""
    count = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        current, depth = stack.pop()
        count += 1
        if depth > max_depth:
            raise Rejected(
                RejectReason.STATUS_TOO_DEEP,
                f"status_json is nested deeper than {max_depth} levels",
                "status_depth",
            )
        if isinstance(current, dict | list):
            children = current.values() if isinstance(current, dict) else current
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(current, int) and not isinstance(current, bool):
            if not _INT64_MIN <= current <= _INT64_MAX:
                raise Rejected(
                    RejectReason.INVALID_STATUS, "status_json holds an integer beyond 64 bits"
                )
        elif isinstance(current, float) and not math.isfinite(current):
            raise Rejected(
                RejectReason.INVALID_STATUS,
                "status_json holds a number too large for a 64-bit float",
            )
    return count


@dataclass(frozen=True)
class ParsedStatus:
    value: dict[str, Any]
    size: int  # bytes charged to the cluster's quota: the JSON plus VALUE_COST per value


class _Unsure(Exception):
    """orjson's reading may differ from the strict decoder's: let the strict one decide."""


def _walk(value: Any, depth: int, max_depth: int, counts: list[int]) -> None:
    """Count values (``counts[0]``), object members (``counts[1]``) and the ``:`` inside keys and
    strings (``counts[2]``). Anything the strict decoder would refuse, or might read otherwise,
    raises _Unsure: that decoder words the reason."""
    counts[0] += 1
    if depth > max_depth:
        raise _Unsure
    if type(value) is dict:
        counts[1] += len(value)
        counts[2] += "".join(value).count(":")
        for child in value.values():
            _walk(child, depth + 1, max_depth, counts)
    elif type(value) is list:
        for child in value:
            _walk(child, depth + 1, max_depth, counts)
    elif type(value) is str:
        counts[2] += value.count(":")
    elif type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
        raise _Unsure
    elif type(value) is float and not -_TWO_63 < value < _TWO_63:
        raise _Unsure  # perhaps an integer past 64 bits, which orjson reads as a float


def _members(raw: bytes) -> int:
    """The object members written in a JSON text: its ``:`` outside strings."""
    return _STRING.sub(b'""', raw).count(b":")


def _fast_parse(raw: bytes, limits: Limits) -> ParsedStatus | None:
    """Decode with orjson when it provably agrees with the strict decoder; None when unsure.

    orjson already refuses invalid UTF-8, unpaired surrogates, NaN and infinities. It keeps the
    last of duplicate keys (detected here: every ``:`` of the text must be a decoded member or
    inside a decoded string; a ``\\u`` escape may hide one, then strings are cut out of the
    text to count them) and reads integers past 64 bits as floats (floats that large go to the
    strict decoder)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if type(value) is not dict:
        return None
    counts = [0, 0, 0]
    # brackets bound the depth (those inside strings too): most statuses need no depth check
    shallow = raw.count(b"{") + raw.count(b"[") <= limits.max_status_depth
    try:
        _walk(value, 0, sys.maxsize if shallow else limits.max_status_depth, counts)
    except (RecursionError, _Unsure):
        return None
    values, members, quoted = counts
    # a \u escape may decode to a ``:``: then count the members in the text itself
    exact = _members(raw) if b"\\u" in raw else raw.count(b":") - quoted
    if members != exact:
        return None
    return ParsedStatus(value, len(raw) + VALUE_COST * values)


def parse_status(raw: bytes, limits: Limits) -> ParsedStatus | None:
    """Decode a status payload: empty means no status; anything but a JSON object is rejected.

    The size and value count are checked on the bytes, before anything is parsed."""
    if not raw:
        return None
    if len(raw) > limits.max_status_bytes:
        raise Rejected(
            RejectReason.STATUS_TOO_LARGE,
            f"status_json is {len(raw)} bytes, over the {limits.max_status_bytes} limit",
            "status_bytes",
        )
    try:
        # decode strictly here: json.loads(bytes) would also take UTF-16/32 and encoded surrogates
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(RejectReason.INVALID_STATUS, "status_json is not UTF-8") from None
    # a bound (commas and brackets in strings count too) spares the exact count most of the time
    bound = raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1
    if bound > limits.max_status_values:
        values = count_values(raw)
        if values > limits.max_status_values:
            raise Rejected(
                RejectReason.STATUS_TOO_MANY_VALUES,
                f"status_json holds {values} JSON values, over the "
                f"{limits.max_status_values} limit",
                "status_values",
            )
    fast = _fast_parse(raw, limits)
    if fast is not None:
        return fast
    try:
        value = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except RecursionError:
        raise Rejected(
            RejectReason.STATUS_TOO_DEEP,
            f"status_json is nested deeper than {limits.max_status_depth} levels",
            "status_depth",
        ) from None
    except Rejected:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer past Python's digit limit
        raise Rejected(RejectReason.INVALID_STATUS, f"status_json is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Rejected(
            RejectReason.INVALID_STATUS,
            f"status_json must be a JSON object, got {type(value).__name__}",
        )
    values = _check_values(value, limits.max_status_depth)
    if _SURROGATE_ESCAPE.search(raw):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise Rejected(
                RejectReason.INVALID_STATUS,
                "status_json escapes an unpaired surrogate (not Unicode text)",
            ) from None
    return ParsedStatus(value, len(raw) + VALUE_COST * values)


def _check_name(what: str, value: str, pattern: re.Pattern[str], max_len: int) -> None:
    if not value:
        raise Rejected(RejectReason.INVALID_NAME, f"{what} is empty")
    if len(value) > max_len or not pattern.fullmatch(value):
        raise Rejected(RejectReason.INVALID_NAME, f"{what} {value[:80]!r} is not a valid name")


def _check_generation(what: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= _INT64_MAX:
        raise Rejected(
            RejectReason.INVALID_GENERATION, f"{what} must be between 0 and 2^63-1, got {value}"
        )


# how many valid names of each sort a validator remembers (an agent may send many new ones)
KNOWN_NAMES = 65_536

_T = TypeVar("_T", bound=Hashable)


def _remember(known: dict[_T, _T], value: _T) -> _T:
    if len(known) < KNOWN_NAMES:
        known[value] = value
    return value


class Validator:
    """Turns raw items into member items, or raises Rejected."""

    def __init__(self, supports_kind: Callable[[str, str], bool], limits: Limits) -> None:
        self.supports_kind = supports_kind
        self.limits = limits
        # names already found valid, each kept once and shared by every item that uses it
        self._clusters: dict[str, str] = {}
        self._types: dict[tuple[str, str], tuple[str, str]] = {}
        self._namespaces: dict[str, str] = {"": ""}

    def validate(self, raw: RawItem) -> MemberItem:
        cluster = self._clusters.get(raw.cluster)
        if cluster is None:
            _check_name("cluster", raw.cluster, _DNS_SUBDOMAIN, 253)
            cluster = _remember(self._clusters, raw.cluster)
        type_key = self._types.get((raw.api_version, raw.kind))
        if type_key is None:
            if not raw.api_version or not _API_VERSION.fullmatch(raw.api_version):
                raise Rejected(
                    RejectReason.INVALID_API_VERSION,
                    f"apiVersion {raw.api_version[:80]!r} is not valid",
                )
            if not _KIND.fullmatch(raw.kind):
                raise Rejected(RejectReason.INVALID_KIND, f"kind {raw.kind[:80]!r} is not valid")
            type_key = _remember(self._types, (raw.api_version, raw.kind))
        _check_name("name", raw.name, _DNS_SUBDOMAIN, 253)
        namespace = self._namespaces.get(raw.namespace)
        if namespace is None:
            _check_name("namespace", raw.namespace, _DNS_LABEL, 63)
            namespace = _remember(self._namespaces, raw.namespace)
        if not self.supports_kind(raw.api_version, raw.kind):
            raise Rejected(
                RejectReason.UNSUPPORTED_KIND,
                f"no status aggregation interpreter for {raw.kind}.{raw.api_version}",
            )
        for what, value in (
            ("generation", raw.generation),
            ("observed_generation", raw.observed_generation),
            ("template_generation", raw.template_generation),
        ):
            _check_generation(what, value)
        try:
            health = Health(raw.health) if raw.health else Health.UNKNOWN
        except ValueError:
            raise Rejected(
                RejectReason.INVALID_HEALTH,
                f"health {raw.health[:40]!r} is not Healthy, Unhealthy or Unknown",
            ) from None
        if not raw.applied and not raw.removed and raw.status_json:
            raise Rejected(
                RejectReason.STATUS_WITHOUT_APPLIED,
                "status_json is set but applied is false: an item that is not applied has no "
                "status (send applied=true with the status, or no status)",
            )
        status = (
            None if raw.removed or not raw.applied else parse_status(raw.status_json, self.limits)
        )
        applied_message = raw.applied_message[: self.limits.max_applied_message]
        size = (status.size if status is not None else 0) + len(applied_message) + VALUE_COST
        return MemberItem(  # positional: this runs for every changed item
            cluster,
            ResourceKey(*type_key, namespace, raw.name),
            None,
            raw.applied,
            applied_message,
            health,
            raw.generation,
            raw.observed_generation,
            raw.template_generation,
            raw.sequence,
            raw.removed,
            raw.uid,
            time.monotonic(),
            size,
            status_json=raw.status_json if status is not None else None,
        )


def repeats(raw: RawItem, held: MemberItem) -> bool:
    """Whether ``raw`` says byte for byte what the valid ``held`` says (sequence aside), so it
    needs no validation: the same bytes of the same resource and cluster validate the same."""
    return (
        raw.status_json == (held.status_json or b"")
        and not raw.removed
        and raw.applied == held.applied
        and raw.health == held.health.value
        and raw.generation == held.generation
        and raw.observed_generation == held.observed_generation
        and raw.template_generation == held.template_generation
        and raw.applied_message == held.applied_message
        and raw.uid == held.uid
    )
