"""The strategies compared, in the order they run: baselines first, the service last."""

from __future__ import annotations

from collections.abc import Callable

from aggregator.bench.strategies.base import RunContext, Strategy
from aggregator.bench.strategies.karmada import CacheFirstStrategy, KarmadaStrategy
from aggregator.bench.strategies.limit import LimitStrategy, status_puts_per_s
from aggregator.bench.strategies.naive import NaiveStrategy
from aggregator.bench.strategies.statusagg import StatusaggStrategy
from aggregator.service import ServiceSettings

STRATEGIES = ("limit", "naive", "karmada", "cache_first", "statusagg")


def make(name: str, settings: ServiceSettings) -> Strategy:
    factories: dict[str, Callable[[], Strategy]] = {
        "limit": LimitStrategy,
        "naive": NaiveStrategy,
        "karmada": KarmadaStrategy,
        "cache_first": CacheFirstStrategy,
        "statusagg": lambda: StatusaggStrategy(settings),
    }
    return factories[name]()


__all__ = ["STRATEGIES", "RunContext", "Strategy", "make", "status_puts_per_s"]
