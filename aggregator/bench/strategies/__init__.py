"""The strategies compared: baselines and the service, each built for one variant."""

from __future__ import annotations

from collections.abc import Callable

from aggregator.bench.strategies.base import RunContext, Strategy
from aggregator.bench.strategies.karmada import CacheFirstStrategy, KarmadaStrategy
from aggregator.bench.strategies.karmada_full import KarmadaFullStrategy
from aggregator.bench.strategies.limit import LimitStrategy
from aggregator.bench.strategies.naive import NaiveStrategy
from aggregator.bench.strategies.statusagg import StatusaggStrategy
from aggregator.bench.variants import Variant

FACTORIES: dict[str, Callable[[Variant], Strategy]] = {
    "limit": LimitStrategy,
    "naive": NaiveStrategy,
    "karmada": KarmadaStrategy,
    "cache_first": CacheFirstStrategy,
    "karmada_full": KarmadaFullStrategy,
    "statusagg": StatusaggStrategy,
}


def make(variant: Variant) -> Strategy:
    return FACTORIES[variant.strategy](variant)


__all__ = ["RunContext", "Strategy", "make"]
