"""Why a reported item was rejected: a fixed set of values, used as the ``reason`` metric label.

The message sent back to the agent says more (which field, which limit); these values only name
the category, so the metric's cardinality stays bounded. docs/operating.md lists every value.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    INVALID_NAME = "invalid_name"  # cluster, namespace or name empty or not a valid name
    INVALID_API_VERSION = "invalid_api_version"
    INVALID_KIND = "invalid_kind"
    UNSUPPORTED_KIND = "unsupported_kind"  # no status aggregation interpreter for the kind
    INVALID_GENERATION = "invalid_generation"  # a generation outside 0..2^63-1
    INVALID_HEALTH = "invalid_health"
    STATUS_WITHOUT_APPLIED = "status_without_applied"  # a status on an item not applied
    INVALID_STATUS = "invalid_status"  # status_json is not a JSON object of UTF-8 text
    STATUS_TOO_LARGE = "status_too_large"  # over --max-status-bytes
    STATUS_TOO_MANY_VALUES = "status_too_many_values"  # over --max-status-values
    STATUS_TOO_DEEP = "status_too_deep"  # over --max-status-depth
    WRONG_CLUSTER = "wrong_cluster"  # an item of another cluster in a Sync
    DUPLICATE_ITEM = "duplicate_item"  # the same resource and cluster twice in one call
    CLUSTER_ITEMS_QUOTA = "cluster_items_quota"  # the cluster holds its maximum of items
    CLUSTER_BYTES_QUOTA = "cluster_bytes_quota"  # the cluster holds its maximum of bytes
