"""The variants compared: every strategy at its own defaults and at equal concurrency.

A variant is a strategy with a setting: ``defaults`` is what the strategy ships with (Karmada's
5 workers per controller and its client limit of ``--kube-api-qps 40 / --kube-api-burst 60``,
shared by its controllers; statusagg's ``ServiceSettings()`` and ``serve``'s ``--qps 200 /
--burst 400``), ``equal`` is the strategy with ``EQUAL_CONCURRENCY`` workers and no client-side
limit (for statusagg, ``tuned``: the same, its other settings at their defaults). ``limit`` has
one setting: the PUT ceiling at ``EQUAL_CONCURRENCY`` in flight; ``naive``, a reference writer
with no defaults of its own, runs at equal concurrency only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from aggregator.service import ServiceSettings

EQUAL_CONCURRENCY = 32
KARMADA_WORKERS = 5  # --concurrent-work-syncs, --concurrent-resourcebinding-syncs
KARMADA_QPS = 40.0  # --kube-api-qps, shared by the controller-manager's controllers
KARMADA_BURST = 60  # --kube-api-burst
SERVE_QPS = 200.0  # statusagg serve --qps
SERVE_BURST = 400  # statusagg serve --burst

DEFAULTS = "defaults"
EQUAL = "equal"
TUNED = "tuned"

STRATEGIES = ("limit", "naive", "karmada", "cache_first", "karmada_full", "statusagg")
BASELINES = ("naive", "karmada", "cache_first", "karmada_full")
SERVICE = "statusagg"
LIMIT = "limit"


@dataclass(frozen=True)
class Variant:
    """One strategy with one setting; ``qps`` 0 means no client-side limit."""

    strategy: str
    setting: str
    workers: int
    qps: float = 0.0
    burst: int = 0
    service: ServiceSettings | None = None  # statusagg only

    @property
    def name(self) -> str:
        return self.strategy if self.strategy == LIMIT else f"{self.strategy}/{self.setting}"

    @property
    def equal_concurrency(self) -> bool:
        return self.setting in (EQUAL, TUNED) or self.strategy == LIMIT

    def describe(self) -> dict[str, object]:
        """The settings as bench.json records them."""
        described: dict[str, object] = {
            "strategy": self.strategy,
            "setting": self.setting,
            "workers": self.workers,
            "client_qps": self.qps or None,
            "client_burst": self.burst or None,
        }
        if self.service is not None:
            described["service"] = {
                "workers": self.service.workers,
                "coalesce_delay_s": self.service.coalesce_delay_s,
                "min_write_interval_s": self.service.min_write_interval_s,
                "write_mode": str(self.service.write_mode.value),
                "events": dataclasses.asdict(self.service.events),
            }
        return described


def statusagg_tuned() -> ServiceSettings:
    """The service's defaults with equal concurrency (events included)."""
    return ServiceSettings(workers=EQUAL_CONCURRENCY)


def variants_of(strategy: str) -> list[Variant]:
    """Every variant of ``strategy``, defaults first."""
    if strategy == LIMIT:
        return [Variant(LIMIT, EQUAL, EQUAL_CONCURRENCY)]
    if strategy == SERVICE:
        defaults = ServiceSettings()
        return [
            Variant(SERVICE, DEFAULTS, defaults.workers, SERVE_QPS, SERVE_BURST, defaults),
            Variant(SERVICE, TUNED, EQUAL_CONCURRENCY, service=statusagg_tuned()),
        ]
    if strategy == "naive":  # a reference writer with no defaults of its own
        return [Variant(strategy, EQUAL, EQUAL_CONCURRENCY)]
    return [
        Variant(strategy, DEFAULTS, KARMADA_WORKERS, KARMADA_QPS, KARMADA_BURST),
        Variant(strategy, EQUAL, EQUAL_CONCURRENCY),
    ]


# left out of --quick: at 40 requests per second its whole path (about 6 requests per change,
# more when the Works of a template arrive one by one) alone takes longer than the quick budget
NOT_QUICK = ("karmada_full/defaults",)


def all_variants(
    strategies: list[str] | tuple[str, ...] = STRATEGIES, *, quick: bool = False
) -> list[Variant]:
    return [
        v
        for s in STRATEGIES
        if s in strategies
        for v in variants_of(s)
        if not (quick and v.name in NOT_QUICK)
    ]


def by_name(name: str) -> Variant:
    for variant in all_variants():
        if variant.name == name:
            return variant
    raise KeyError(name)
