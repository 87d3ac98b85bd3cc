"""``statusagg get``: what a running service holds for one resource."""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from aggregator.cli.options import UsageError, add, non_negative_float
from aggregator.cli.paths import host_port, readable_files


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``get``."""
    p = sub.add_parser(
        "get",
        help="show what a running service holds for one resource",
        description="Print the service's items, aggregated status and last write of one "
        "resource as JSON. Plaintext unless a TLS flag is given.",
    )
    add(p, "address", default="127.0.0.1:7443", kind=host_port, help="the service's gRPC address")
    add(
        p,
        "tls-ca",
        default=None,
        help="CA (PEM) that signed the service's certificate; turns on TLS",
    )
    add(
        p,
        "tls-cert",
        default=None,
        help="client certificate (PEM) for mutual TLS",
    )
    add(p, "tls-key", default=None, help="client key (PEM)")
    add(
        p,
        "tls-server-name",
        default="",
        help="name to verify on the service's certificate (default: the --address host)",
    )
    add(
        p,
        "token-file",
        default=None,
        help="file holding a bearer token (a --token-map entry)",
    )
    add(p, "timeout", default=10.0, kind=non_negative_float, help="seconds to wait for the answer")
    p.add_argument("api_version", help="apiVersion of the resource, e.g. apps/v1")
    p.add_argument("kind", help="kind of the resource, e.g. Deployment")
    p.add_argument("name", help="NAMESPACE/NAME, or NAME for a cluster-scoped resource")
    p.set_defaults(func=run)


def _channel(args: argparse.Namespace) -> Any:
    import grpc

    readable_files(args, "tls-ca", "tls-cert", "tls-key", "token-file")
    if bool(args.tls_cert) != bool(args.tls_key):
        raise UsageError("--tls-cert and --tls-key go together")
    if not (args.tls_ca or args.tls_cert or args.tls_server_name):
        return grpc.insecure_channel(args.address)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=Path(args.tls_ca).read_bytes() if args.tls_ca else None,
        private_key=Path(args.tls_key).read_bytes() if args.tls_key else None,
        certificate_chain=Path(args.tls_cert).read_bytes() if args.tls_cert else None,
    )
    options = (
        [("grpc.ssl_target_name_override", args.tls_server_name)] if args.tls_server_name else []
    )
    return grpc.secure_channel(args.address, credentials, options=options)


def run(args: argparse.Namespace) -> int:
    """Print the answer as JSON; 1 (with the gRPC status on one line) if the call fails."""
    import grpc
    from google.protobuf.json_format import MessageToDict

    from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
    from aggregator.api.statusagg.v1 import statusagg_pb2_grpc as pb_grpc

    channel = _channel(args)
    namespace, _, name = args.name.rpartition("/")
    token = Path(args.token_file).read_text().strip() if args.token_file else ""
    metadata = (("authorization", f"Bearer {token}"),) if token else ()
    request = pb.GetAggregateRequest(
        resource=pb.ResourceRef(
            api_version=args.api_version, kind=args.kind, namespace=namespace, name=name
        )
    )
    with channel:
        try:
            reply = pb_grpc.StatusAggregatorStub(channel).GetAggregate(
                request, metadata=metadata, timeout=args.timeout or None
            )
        except grpc.RpcError as exc:
            print(f"statusagg get: {exc.code().name}: {exc.details()}", file=sys.stderr)
            return 1
    out = MessageToDict(reply, preserving_proto_field_name=True)
    out["aggregated_status"] = json.loads(reply.aggregated_status_json or b"null")
    out.pop("aggregated_status_json", None)
    for item in out.get("items", []):
        item["status"] = json.loads(base64.b64decode(item.pop("status_json", "")) or b"null")
    print(json.dumps(out, indent=2))
    return 0
