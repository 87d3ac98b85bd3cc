"""A minimal member agent built on aggregator.client.

It holds a few Deployments' statuses in memory (a real agent watches its cluster), sends them all
with a Sync, reports one change and one removal through a Reporter, shows what the service holds
and exits. Run it against `statusagg serve`:

    .venv/bin/statusagg serve --insecure &
    .venv/bin/python examples/python-client/report.py --server 127.0.0.1:7443 --cluster member-1

With TLS: --ca (and --cert/--key for mutual TLS); with a bearer token: STATUSAGG_TOKEN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

import grpc

from aggregator.api.statusagg.v1 import statusagg_pb2 as pb
from aggregator.client import TLS, Reporter, StatusClient, open_channel


def deployment(cluster: str, namespace: str, name: str, ready: int) -> pb.MemberStatus:
    """The item of one member Deployment with ``ready`` of 3 replicas ready."""
    status = {"replicas": 3, "updatedReplicas": 3, "readyReplicas": ready}
    return pb.MemberStatus(
        cluster=cluster,
        resource=pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace=namespace, name=name
        ),
        status_json=json.dumps(status).encode(),
        applied=True,
        health=pb.HEALTH_HEALTHY if ready == 3 else pb.HEALTH_UNHEALTHY,
        generation=1,
        observed_generation=1,
    )


async def main(args: argparse.Namespace) -> int:
    tls = TLS(ca=args.ca, cert=args.cert, key=args.key) if args.ca else None
    async with open_channel(args.server, tls) as channel:
        client = StatusClient.over(channel, token=os.environ.get("STATUSAGG_TOKEN", ""))
        # what the cluster holds now; a Sync sends it whole
        held = {
            name: deployment(args.cluster, args.namespace, name, ready=3)
            for name in ("web", "api", "worker")
        }
        reporter = Reporter(client, args.cluster, lambda: list(held.values()))
        running = asyncio.create_task(reporter.run())
        await reporter.synced.wait()
        print(f"synced {len(held)} items, service epoch {reporter.epoch}")

        held["web"] = deployment(args.cluster, args.namespace, "web", ready=1)
        reporter.offer(held["web"])
        del held["worker"]
        reporter.remove("apps/v1", "Deployment", args.namespace, "worker")
        await reporter.flush()
        running.cancel()

        web = pb.ResourceRef(
            api_version="apps/v1", kind="Deployment", namespace=args.namespace, name="web"
        )
        try:
            reply = await client.get_aggregate(web)
        except grpc.aio.AioRpcError as exc:
            print(f"GetAggregate: {exc.code().name}: {exc.details()}")
            return 1
        for item in reply.items:
            print(f"{item.cluster} {args.namespace}/web: {item.status_json.decode()}")
        return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", default="127.0.0.1:7443")
    parser.add_argument("--cluster", default="member-1")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--ca", type=Path, help="CA bundle that signed the server certificate")
    parser.add_argument("--cert", type=Path, help="client certificate, for mutual TLS")
    parser.add_argument("--key", type=Path, help="client private key, for mutual TLS")
    raise SystemExit(asyncio.run(main(parser.parse_args())))
