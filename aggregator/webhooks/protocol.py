"""Karmada's ResourceInterpreterContext for AggregateStatus: the request and a checked answer."""

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
AGGREGATE_STATUS = "AggregateStatus"
JSON_PATCH = "JSONPatch"


class BadAnswer(ValueError):
    """The webhook's answer is not a usable ResourceInterpreterContext response."""


def aggregate_request(
    uid: str, template: Mapping[str, Any], items: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The ResourceInterpreterContext Karmada sends for AggregateStatus."""
    metadata = template.get("metadata", {})
    group, _, version = str(template.get("apiVersion", "")).rpartition("/")
    return {
        "apiVersion": API_VERSION,
        "kind": CONTEXT_KIND,
        "request": {
            "uid": uid,
            "kind": {"group": group, "version": version, "kind": template.get("kind", "")},
            "name": metadata.get("name", ""),
            "namespace": metadata.get("namespace", ""),
            "operation": AGGREGATE_STATUS,
            "object": template,
            "replicas": 0,
            "aggregatedStatus": list(items),
        },
    }


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
