"""Live ResourceInterpreterCustomizations: the registry's Lua layer follows the objects on the
control plane, merged with the files given by ``--customization``, as Karmada's interpreter does.

Every object is loaded on its own first; one that fails keeps its last good version (or is left
out), gets a Warning Event and counts in ``statusagg_customization_load_errors_total``. When the
layer changes, every resource of a kind whose scripts changed is aggregated again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from aggregator.events import EventRecorder
from aggregator.kube.client import KubeClient, Obj
from aggregator.kube.follow import Follower
from aggregator.metrics import Metrics
from interpreters import CustomizationLoadError, Registry
from interpreters.lua import Document, merge_documents, parse_object
from interpreters.model import Target

log = logging.getLogger(__name__)

API_VERSION = "config.karmada.io/v1alpha1"
KIND = "ResourceInterpreterCustomization"
LOAD_FAILED = "CustomizationLoadFailed"
ORIGIN = "api-server"

TargetsChanged = Callable[[set[Target]], None]


class LiveCustomizations:
    """Watches RIC objects and swaps the registry's Lua layer when they change."""

    def __init__(
        self,
        client: KubeClient,
        registry: Registry,
        recorder: EventRecorder,
        metrics: Metrics,
        on_targets_changed: TargetsChanged,
        *,
        discovery_retry_s: float = 30.0,
    ) -> None:
        self._registry = registry
        self._recorder = recorder
        self._metrics = metrics
        self._on_targets_changed = on_targets_changed
        self._follower = Follower(
            client,
            API_VERSION,
            KIND,
            self._apply,
            retry_s=discovery_retry_s,
            meanwhile="only customization files are used until it does",
            metrics=metrics,
            name="customizations",
        )
        self._good: dict[str, Document] = {}
        self._seen: dict[str, str] = {}  # name -> resourceVersion last loaded (or failed)
        self._applied_documents = list(registry.documents)

    @property
    def documents(self) -> list[Document]:
        """The customizations in force: the files' and the objects' that loaded."""
        return list(self._applied_documents)

    async def start(self) -> None:
        await self._follower.start()

    async def stop(self) -> None:
        await self._follower.stop()

    async def _apply(self, objects: list[Obj]) -> None:
        names = set()
        for obj in objects:
            meta = obj["metadata"]
            name, version = meta["name"], str(meta.get("resourceVersion", ""))
            names.add(name)
            if self._seen.get(name) == version:
                continue
            self._seen[name] = version
            try:
                document = parse_object(obj, ORIGIN)
                await asyncio.to_thread(self._check, document)
            except CustomizationLoadError as exc:
                self._failed(obj, str(exc))
                continue
            self._good[name] = document
        for name in [n for n in self._good if n not in names]:
            del self._good[name]
        for name in [n for n in self._seen if n not in names]:
            del self._seen[name]
        before = _scripts_by_target(self._applied_documents)
        documents = [*self._registry.documents, *self._good.values()]
        try:
            await asyncio.to_thread(self._registry.set_customizations, merge_documents(documents))
        except CustomizationLoadError as exc:  # each loaded alone: only a broken pool gets here
            log.warning("the Lua layer was not replaced: %s", exc)
            return
        self._applied_documents = documents
        self._metrics.customizations.set(len(self._good))
        after = _scripts_by_target(documents)
        changed = {t for t in before.keys() | after.keys() if before.get(t) != after.get(t)}
        if changed:
            log.info(
                "customizations changed for %s",
                ", ".join(sorted(f"{kind}.{api_version}" for api_version, kind in changed)),
            )
            self._on_targets_changed(changed)

    def _check(self, document: Document) -> None:
        for customization in merge_documents([document]):
            self._registry.customization_interpreter(customization)

    def _failed(self, obj: dict[str, Any], reason: str) -> None:
        name = obj["metadata"]["name"]
        kept = "keeps its last good version" if name in self._good else "is not used"
        log.warning("%s %s does not load and %s: %s", KIND, name, kept, reason)
        self._metrics.customization_load_errors.inc()
        self._recorder.record(
            {"apiVersion": API_VERSION, "kind": KIND, **obj},
            "Warning",
            LOAD_FAILED,
            lambda: f"the customization does not load and {kept}: {reason}",
        )


def _scripts_by_target(documents: list[Document]) -> dict[Target, dict[str, str]]:
    return {
        customization.target: {op.value: s.code for op, s in customization.scripts.items()}
        for customization in merge_documents(documents)
    }
