"""A webhook that fails in a way that may pass is paused: its calls fail at once, without a
request, for a pause that doubles with each failure in a row; a success ends it."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import Counter

from aggregator.webhooks.calls import FIRST_PAUSE_S, MAX_PAUSE_S, WebhookCalls
from aggregator.webhooks.client import CallFailed, CallFailure, WebhookClient
from aggregator.webhooks.config import Webhook, parse_configuration
from interpreters import InterpreterError, InterpreterUnavailable
from tests.unit.test_webhook_member_operations import MEMBER, answer, configuration


class ScriptedClient(WebhookClient):
    """Answers each POST with the next scripted outcome and records who was called."""

    def __init__(self, outcomes: list[CallFailure | None]) -> None:
        super().__init__()
        self.outcomes = outcomes
        self.called: list[str] = []

    async def post(self, webhook: Webhook, request: dict[str, Any]) -> bytes:
        self.called.append(webhook.uid)
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise CallFailed(outcome, f"scripted {outcome.value}")
        return answer({"healthy": True}, request["request"]["uid"])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def hook(name: str) -> Webhook:
    return parse_configuration(configuration(name, ["InterpretHealth"], ["Widget"]))[0]


def counter() -> Counter:
    return Counter("calls", "", ["configuration", "operation", "result"], registry=None)


PAUSED = r"not called for another .* failed calls in a row"


async def test_pauses_double_up_to_the_cap_and_a_success_ends_them() -> None:
    clock = Clock()
    failures = 9  # enough to reach MAX_PAUSE_S
    http = ScriptedClient([CallFailure.UNREACHABLE] * failures + [None, CallFailure.HTTP])
    calls = WebhookCalls(counter(), http=http, clock=clock)
    widgets = hook("widgets")
    for k in range(failures):
        with pytest.raises(InterpreterUnavailable, match="scripted unreachable"):
            await calls.health(widgets, MEMBER)
        pause = min(FIRST_PAUSE_S * 2**k, MAX_PAUSE_S)
        clock.now += pause - 0.01
        sent = len(http.called)
        with pytest.raises(InterpreterUnavailable, match=PAUSED):
            await calls.health(widgets, MEMBER)
        assert len(http.called) == sent  # no request while paused
        clock.now += 0.01
    assert pause == MAX_PAUSE_S
    assert await calls.health(widgets, MEMBER) is True
    # a success ended the pauses: the next failure pauses for the first pause again
    with pytest.raises(InterpreterUnavailable, match="scripted http-error"):
        await calls.health(widgets, MEMBER)
    clock.now += FIRST_PAUSE_S - 0.01
    with pytest.raises(InterpreterUnavailable, match=PAUSED):
        await calls.health(widgets, MEMBER)
    assert len(http.called) == failures + 2


async def test_pauses_are_per_webhook_and_only_for_failures_that_may_pass() -> None:
    clock = Clock()
    http = ScriptedClient(
        [CallFailure.TIMEOUT, None, CallFailure.BUSY, None, CallFailure.TOO_LARGE, None]
    )
    calls_counted = counter()
    calls = WebhookCalls(calls_counted, http=http, clock=clock)
    widgets, gadgets = hook("widgets"), hook("gadgets")
    with pytest.raises(InterpreterUnavailable, match="scripted timeout"):
        await calls.health(widgets, MEMBER)
    # another webhook is not held behind the paused one
    assert await calls.health(gadgets, MEMBER) is True
    with pytest.raises(InterpreterUnavailable, match=PAUSED):
        await calls.health(widgets, MEMBER)
    # busy is this caller's own in-flight limit, not the webhook's failure: no pause
    with pytest.raises(InterpreterUnavailable, match="scripted busy"):
        await calls.health(gadgets, MEMBER)
    assert await calls.health(gadgets, MEMBER) is True
    # an oversized answer will not get better by waiting: an error, and no pause
    with pytest.raises(InterpreterError, match="scripted too-large") as refused:
        await calls.health(gadgets, MEMBER)
    assert not isinstance(refused.value, InterpreterUnavailable)
    assert await calls.health(gadgets, MEMBER) is True
    assert http.called == ["widgets/hook"] + ["gadgets/hook"] * 5
    assert calls_counted.labels("widgets", "InterpretHealth", "paused")._value.get() == 1
