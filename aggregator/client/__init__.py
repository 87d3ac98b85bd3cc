"""The Python client of statusagg: what a member-cluster agent needs to report statuses.

``open_channel`` connects (plaintext, TLS or mTLS); ``StatusClient`` makes the calls (Report,
chunked Sync, heartbeat, GetAggregate) split by count and bytes and retried with backoff;
``Reporter`` runs a cluster's reporting session (sequences, Sync at start and on a new epoch,
batches of changes, heartbeats). See docs/client.md.
"""

from aggregator.client.batching import batches
from aggregator.client.calls import RETRIED_CODES, Answer, Limits, StatusClient
from aggregator.client.connection import TLS, open_channel
from aggregator.client.reporter import Reporter, ReporterMetrics

__all__ = [
    "RETRIED_CODES",
    "TLS",
    "Answer",
    "Limits",
    "Reporter",
    "ReporterMetrics",
    "StatusClient",
    "batches",
    "open_channel",
]
