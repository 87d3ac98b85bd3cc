"""Aggregate one resource, compare with its live status, and write only when it differs."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from deepdiff import DeepDiff

from aggregator.events import EventRecorder
from aggregator.kube.client import NotFound, Obj
from aggregator.metrics import Metrics
from aggregator.model import ResourceKey
from aggregator.normalize import (
    comparable,
    comparable_status,
    normalize,
    normalized_status,
    same_json,
)
from aggregator.statuspath import ignore_pattern
from aggregator.store import MemberStore
from aggregator.templates import TemplateCaches
from aggregator.writefailure import Failure, classify
from aggregator.writer import FIELD_MANAGER, Result, StatusWriter, WriteMode
from aggregator.writewar import WriteWars, other_status_manager
from interpreters import InterpreterError, InterpreterUnavailable, Registry

log = logging.getLogger(__name__)

SUCCEEDED = "AggregateStatusSucceed"
FAILED = "AggregateStatusFailed"
WRITE_WAR = "StatusWriteWar"


@dataclass(slots=True)
class LastWrite:
    outcome: str  # written, skipped, not-found, failed, not-owner, held
    message: str = ""
    resource_version: str = ""
    at: float = field(default_factory=time.time)


@dataclass(slots=True)
class KeyState:
    """What the service remembers about one resource between reconciles."""

    desired: dict[str, Any] | None = None  # normalised aggregate we last computed
    written: dict[str, Any] | None = None  # comparable form of the status the server returned
    last_write: LastWrite | None = None
    pending_since: float | None = None  # arrival of the oldest report not yet reconciled
    overwritten: bool = False  # another field manager changed the status since our last reconcile


class Reconciler:
    """The aggregate -> compare -> write -> event step for one key at a time."""

    def __init__(
        self,
        store: MemberStore,
        caches: TemplateCaches,
        registry: Registry,
        writer: StatusWriter,
        recorder: EventRecorder,
        metrics: Metrics,
        *,
        write_mode: WriteMode = WriteMode.UPDATE,
        kind_write_modes: dict[str, WriteMode] | None = None,
        ignore_paths: Sequence[str] = (),
        may_write: Callable[[ResourceKey], bool] | None = None,
        wars: WriteWars[ResourceKey] | None = None,
        field_manager: str = FIELD_MANAGER,
    ) -> None:
        self.store = store
        self.wars: WriteWars[ResourceKey] = wars or WriteWars()
        self.field_manager = field_manager
        self.may_write = may_write or (lambda _key: True)
        self.caches = caches
        self.registry = registry
        self.writer = writer
        self.recorder = recorder
        self.metrics = metrics
        self.write_mode = write_mode
        self.kind_write_modes = kind_write_modes or {}
        self.ignore_patterns = [ignore_pattern(path) for path in ignore_paths]
        self.states: dict[ResourceKey, KeyState] = {}

    def _state(self, key: ResourceKey) -> KeyState:
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = KeyState()
        return state

    def note_report(self, key: ResourceKey, received_at: float) -> None:
        state = self._state(key)
        if state.pending_since is None:
            state.pending_since = received_at

    def drifted(self, key: ResourceKey, obj: Obj | None) -> bool:
        """Whether a watched change needs a reconcile: the template appeared, changed after a
        failed write, or its live status is no longer what we last wrote (another writer, a
        restore)."""
        state = self.states.get(key)
        if obj is None:
            self.wars.forget(key)
            if state is not None and key not in self.store:
                del self.states[key]
            elif state is not None:
                state.written = state.desired = None
            return False
        if key not in self.store:
            return False
        if state is None or state.written is None:
            return True
        if not same_json(comparable_status(obj), state.written):
            self._overwritten(key, state, obj)
            return True
        return state.last_write is not None and state.last_write.outcome == "failed"

    def _overwritten(self, key: ResourceKey, state: KeyState, obj: Obj) -> None:
        """Count, once per reconcile of ours, another field manager overwriting the status."""
        if state.overwritten:
            return
        manager = other_status_manager(obj, self.field_manager)
        if manager is None:
            return
        state.overwritten = True
        if not self.wars.overwritten(key, manager):
            return
        self.metrics.write_wars.inc()
        self.metrics.write_war_objects.set(self.wars.active())
        s = self.wars.settings
        message = (
            f"field manager {manager!r} overwrote the status {s.overwrites} times within "
            f"{s.window_s:g}s; statusagg holds its writes of this object, doubling the wait up "
            f"to {s.backoff_max_s:g}s, until the other writer stops"
        )
        log.warning("write war on %s: %s", key, message)
        self.recorder.record(obj, "Warning", WRITE_WAR, lambda: message)

    def held(self, key: ResourceKey) -> float:
        """Seconds to wait before reconciling ``key``: another writer keeps overwriting it."""
        delay = self.wars.hold(key)
        if delay > 0:
            state = self._state(key)
            state.last_write = LastWrite(
                "held",
                f"field manager {self.wars.manager(key)!r} keeps overwriting the status; "
                f"next write in {delay:.1f}s",
            )
        return delay

    def retrying(self, key: ResourceKey, delay_s: float) -> None:
        """Say in the last write of a failed ``key`` when it is tried again."""
        state = self.states.get(key)
        last = state.last_write if state is not None else None
        if state is not None and last is not None and last.outcome == "failed":
            message = f"retrying in {delay_s:.1f}s: {last.message}"
            state.last_write = dataclasses.replace(last, message=message)

    def _mode_for(self, key: ResourceKey) -> WriteMode:
        return self.kind_write_modes.get(key.kind, self.write_mode)

    def _desired_of(self, key: ResourceKey) -> Any:
        async def desired(obj: Obj) -> dict[str, Any]:
            items = [item.aggregated_status_item() for item in self.store.items(key)]
            result = await self.registry.aggregate_async(obj, items)
            status = result.get("status")
            if status is None:
                return {}
            if not isinstance(status, dict):
                raise InterpreterError(
                    f"the {key.kind} interpreter returned a status of type {type(status).__name__}"
                )
            return dict(normalize(status))

        return desired

    def _is_current(self, state: KeyState) -> Any:
        def is_current(obj: Obj, desired: dict[str, Any]) -> bool:
            live = comparable_status(obj)
            if same_json(live, comparable(desired)):
                return True
            if same_json(state.desired, desired) and same_json(state.written, live):
                return True  # the server reshapes what we write (defaults, pruning): done
            if self.ignore_patterns:
                return not DeepDiff(
                    live, comparable(desired), exclude_regex_paths=self.ignore_patterns
                )
            return False

        return is_current

    async def reconcile(self, key: ResourceKey) -> bool:
        """Bring the template's status in line with its member items; return whether it wrote.

        Raises on errors that deserve a retry (the caller backs off); interpreter errors and
        statuses the API server refuses (too large, invalid) are final for these inputs."""
        if not self.may_write(key):
            self._fenced(key)
            return False
        state = self._state(key)
        try:
            rt, cache = await self.caches.resolve(key.api_version, key.kind)
        except NotFound:
            self._finish(state, LastWrite("failed", f"the API server does not serve {key.kind}"))
            return False
        cached = cache.get((key.namespace, key.name))
        if cached is None:
            self._finish(state, LastWrite("not-found", "template does not exist"))
            return False
        state.overwritten = False  # each reconcile counts at most one overwrite
        try:
            outcome = await self.writer.write(
                rt,
                cache,
                cached,
                self._desired_of(key),
                self._is_current(state),
                self._mode_for(key),
                lambda: self.may_write(key),
            )
        except InterpreterError as exc:
            reason = str(exc)
            self.metrics.interpreter_errors.inc()
            self.recorder.record(cached, "Warning", FAILED, lambda: reason)
            if isinstance(exc, InterpreterUnavailable):  # the status stays; retried with backoff
                state.last_write = LastWrite("failed", reason)
                raise
            log.warning("aggregating %s failed: %s", key, reason)
            self._finish(state, LastWrite("failed", reason))
            return False
        except Exception as exc:
            failure = classify(exc)
            self.metrics.write_failures.labels(reason=failure.value).inc()
            reason = f"{failure.summary}: {exc}"
            if failure.final:
                # retrying the same inputs cannot help; a new report or template change
                # enqueues the key again
                log.warning("writing the status of %s failed: %s", key, reason)
                self._finish(state, LastWrite("failed", reason))
                self.recorder.record(cached, "Warning", FAILED, lambda: reason)
                return True
            state.last_write = LastWrite("failed", reason)
            if failure is Failure.CONFLICT:  # attempts ran out
                self.recorder.record(cached, "Warning", FAILED, lambda: reason)
            raise
        if outcome.result is Result.FENCED:
            self._fenced(key)
            return False
        if outcome.result is Result.NOT_FOUND:
            self._finish(state, LastWrite("not-found", "template was deleted"))
            return False
        after = outcome.after or cached
        state.desired = outcome.desired
        state.written = comparable_status(after)
        rv = str(after["metadata"].get("resourceVersion", ""))
        if outcome.result is Result.SKIPPED:
            self.metrics.skips.inc()
            self._finish(state, LastWrite("skipped", "status up to date", rv))
            return False
        before = normalized_status(outcome.before)
        desired = outcome.desired or {}
        if log.isEnabledFor(logging.DEBUG):
            log.debug("wrote %s (rv %s): %s", key, rv, change_summary(before, desired))
        self._finish(state, LastWrite("written", f"attempts={outcome.attempts}", rv))
        self.recorder.record(
            after,
            "Normal",
            SUCCEEDED,
            lambda: (
                "Update Resource with AggregatedStatus successfully: "
                + change_summary(before, desired, self.ignore_patterns)
            ),
        )
        return True

    def _fenced(self, key: ResourceKey) -> None:
        """Not ours to write now (moved away, or held during a handover): the owner writes it."""
        self.metrics.shard_fenced.inc()
        state = self.states.get(key)
        if state is not None:
            state.pending_since = None
            state.last_write = LastWrite(
                "not-owner", "another replica owns it, or it waits for a handover to finish"
            )

    def _finish(self, state: KeyState, last_write: LastWrite) -> None:
        state.last_write = last_write
        if state.pending_since is not None:
            self.metrics.report_to_written.observe(time.monotonic() - state.pending_since)
            state.pending_since = None


def change_summary(
    before: dict[str, Any], after: dict[str, Any], ignore_patterns: Sequence[str] = ()
) -> str:
    """A short human-readable list of what changed in the status."""
    diff = DeepDiff(before, after, exclude_regex_paths=list(ignore_patterns), verbose_level=2)
    parts: list[str] = []
    for change in diff.get("values_changed", {}).items():
        path, values = change
        parts.append(f"{_path(path)}: {values['old_value']} -> {values['new_value']}")
    for kind in ("type_changes",):
        for path, values in diff.get(kind, {}).items():
            parts.append(f"{_path(path)}: {values.get('old_value')} -> {values.get('new_value')}")
    for path in diff.get("dictionary_item_added", {}):
        parts.append(f"+{_path(path)}")
    for path in diff.get("dictionary_item_removed", {}):
        parts.append(f"-{_path(path)}")
    for key in ("iterable_item_added", "iterable_item_removed"):
        if key in diff:
            parts.append(f"{len(diff[key])} list item(s) {key.split('_')[-1]}")
    text = ", ".join(parts) or "no field-level change"
    return text if len(text) <= 900 else text[:897] + "..."


def _path(deepdiff_path: str) -> str:
    return "status" + deepdiff_path.removeprefix("root").replace("['", ".").replace("']", "")
