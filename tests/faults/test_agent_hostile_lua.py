"""A runaway Lua reflect script inside a running agent: the agent's health endpoint keeps
answering at once and other objects' statuses still reach the service. Members and the control
plane are real API servers."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from aggregator.agent.run import AgentOptions, running_agent
from aggregator.devcluster import LocalAPIServer
from aggregator.kube import KubeClient
from aggregator.kube.resources import DEPLOYMENTS
from interpreters import LuaSettings
from tests.faults.test_agent_faults import member_objects
from tests.faults.workload import service_for, until
from tests.helpers import MEMBER_CLUSTERS as CLUSTERS
from tests.helpers import eventually

CUSTOMIZATION = """
apiVersion: config.karmada.io/v1alpha1
kind: ResourceInterpreterCustomization
metadata: {name: hostile-reflection}
spec:
  target: {apiVersion: apps/v1, kind: Deployment}
  customizations:
    statusReflection:
      luaScript: |
        function ReflectStatus(observedObj)
          if observedObj.metadata.name == "runaway" then
            while true do end
          end
          return observedObj.status
        end
"""
RESPONSIVE_S = 0.1


class Prober:
    """Asks ``/healthz`` from its own thread, so a stalled event loop shows as a slow answer."""

    def __init__(self, address: str) -> None:
        self.url = f"http://{address}/healthz"
        self.latencies: list[float] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as answer:
                    answer.read()
            except OSError as exc:
                self.errors.append(exc)
                return
            self.latencies.append(time.monotonic() - started)
            self._stop.wait(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def test_runaway_reflect_script_never_stalls_the_agent(
    apiserver: LocalAPIServer,
    kube: KubeClient,
    namespace: str,
    members: dict[str, LocalAPIServer],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    ric = tmp_path / "hostile.yaml"
    ric.write_text(CUSTOMIZATION)
    cluster = CLUSTERS[0]
    caplog.set_level(logging.WARNING, logger="aggregator.agent.run")

    def runaway_failures() -> int:
        return sum("/runaway) is not reported" in r.getMessage() for r in caplog.records)

    async def steady_ready() -> int:
        status = (await kube.get(DEPLOYMENTS, namespace, "steady")).get("status") or {}
        return int(status.get("readyReplicas", 0))

    options = AgentOptions(
        cluster=cluster,
        server="",
        kinds=[("apps/v1", "Deployment")],
        kubeconfig=Path(members[cluster].kubeconfig),
        metrics_listen="127.0.0.1:0",
        customizations=[ric],
        load_plugins=False,
        lua=LuaSettings(timeout_s=1.0, workers=2),
        heartbeat_s=0.5,
    )
    async with (
        member_objects(members, kube, namespace, ["runaway", "steady"]) as fleet,
        service_for(apiserver.kubeconfig, events=False) as (svc, _),
    ):
        options.server = svc.address
        async with running_agent(options) as agent:
            prober = Prober(agent.metrics_address)
            try:
                for ready in (5, 6):
                    failures = runaway_failures()
                    # the runaway object changes first, so its script runs before the other's
                    await fleet.set_ready(cluster, "runaway", ready)
                    await fleet.set_ready(cluster, "steady", ready)

                    async def steady_reported(ready: int = ready) -> bool:
                        return await steady_ready() == ready

                    await eventually(steady_reported, within=30)
                    await until(lambda f=failures: runaway_failures() > f, within=30)  # type: ignore[misc]
            finally:
                await asyncio.to_thread(prober.stop)
    latencies = prober.latencies
    assert not prober.errors
    assert runaway_failures() >= 2
    assert len(latencies) > 20
    assert max(latencies) < RESPONSIVE_S, f"slowest /healthz answer {max(latencies):.3f}s"
