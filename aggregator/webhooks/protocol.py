"""Karmada's ResourceInterpreterContext for AggregateStatus, InterpretStatus and InterpretHealth:
the request and a checked answer."""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jsonpatch
import jsonpointer

from aggregator.webhooks.config import API_VERSION

CONTEXT_KIND = "ResourceInterpreterContext"
JSON_PATCH = "JSONPatch"


class BadAnswer(ValueError):
    """The webhook's answer is not a usable ResourceInterpreterContext response."""


def context_request(
    uid: str,
    operation: str,
    obj: Mapping[str, Any],
    items: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ResourceInterpreterContext Karmada sends for ``operation`` on ``obj`` (the template,
    or the member object for InterpretStatus and InterpretHealth); ``items`` for
    AggregateStatus."""
    metadata = obj.get("metadata", {})
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    request: dict[str, Any] = {
        "uid": uid,
        "kind": {"group": group, "version": version, "kind": obj.get("kind", "")},
        "name": metadata.get("name", ""),
        "namespace": metadata.get("namespace", ""),
        "operation": operation,
        "object": obj,
        "replicas": 0,
    }
    if items is not None:
        request["aggregatedStatus"] = list(items)
    return {"apiVersion": API_VERSION, "kind": CONTEXT_KIND, "request": request}


def aggregate_answer(uid: str, template: Mapping[str, Any], body: bytes) -> dict[str, Any]:
    """A copy of ``template`` with the webhook's JSON patch applied.

    Raises BadAnswer saying what is wrong with ``body``."""
    response = _response(uid, body)
    patch, patch_type = response.get("patch"), response.get("patchType")
    if patch is None and patch_type is None:
        return copy.deepcopy(dict(template))
    if patch is None or patch_type is None:
        raise BadAnswer("patch and patchType must be given together")
    if patch_type != JSON_PATCH:
        raise BadAnswer(f"patchType {patch_type!r} is not supported, only {JSON_PATCH}")
    if not isinstance(patch, str):
        raise BadAnswer("patch must be a base64 string")
    try:
        operations = json.loads(base64.b64decode(patch, validate=True))
        result = jsonpatch.apply_patch(dict(template), operations)
    except (binascii.Error, ValueError) as exc:
        raise BadAnswer(f"patch is not base64-encoded JSON: {exc}") from exc
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError) as exc:
        raise BadAnswer(f"the JSON patch does not apply: {exc}") from exc
    if not isinstance(result, dict):
        raise BadAnswer("the patched object is not a JSON object")
    status = result.get("status")
    if status is not None and not isinstance(status, dict):
        raise BadAnswer(f"the patched status is a {type(status).__name__}, not an object")
    return result


def status_answer(uid: str, body: bytes) -> dict[str, Any] | None:
    """The status an InterpretStatus answer reflects: ``rawStatus``, an object or null (no
    status). Raises BadAnswer saying what is wrong with ``body``."""
    response = _response(uid, body)
    if "rawStatus" not in response:
        raise BadAnswer("the answer has no response.rawStatus")
    status = response["rawStatus"]
    if status is not None and not isinstance(status, dict):
        raise BadAnswer(f"response.rawStatus is a {type(status).__name__}, not an object")
    return status


def health_answer(uid: str, body: bytes) -> bool:
    """Whether an InterpretHealth answer says healthy (``healthy``, a boolean).

    Raises BadAnswer saying what is wrong with ``body``."""
    healthy = _response(uid, body).get("healthy")
    if not isinstance(healthy, bool):
        raise BadAnswer(f"response.healthy must be a boolean, got {healthy!r}")
    return healthy


def _response(uid: str, body: bytes) -> Mapping[str, Any]:
    try:
        context = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadAnswer(f"the answer is not JSON: {exc}") from exc
    if not isinstance(context, dict):
        raise BadAnswer("the answer is not a JSON object")
    if context.get("apiVersion") != API_VERSION or context.get("kind") != CONTEXT_KIND:
        raise BadAnswer(
            f"the answer is not a {API_VERSION} {CONTEXT_KIND} (apiVersion "
            f"{context.get('apiVersion')!r}, kind {context.get('kind')!r})"
        )
    response = context.get("response")
    if not isinstance(response, dict):
        raise BadAnswer("the answer has no response")
    if response.get("uid") != uid:
        raise BadAnswer(f"expected response.uid {uid!r}, got {response.get('uid')!r}")
    successful = response.get("successful")
    if not isinstance(successful, bool):
        raise BadAnswer("response.successful must be a boolean")
    if not successful:
        status = response.get("status")
        if not isinstance(status, dict):
            raise BadAnswer("an unsuccessful response must have a status")
        raise BadAnswer(
            f"webhook call failed, get status code: {status.get('code')}, "
            f"msg: {status.get('message')}"
        )
    return response
