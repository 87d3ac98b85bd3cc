"""Medians and interquartile ranges of repeated measurements."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Spread:
    """The median and the quartiles of some samples."""

    median: float
    q1: float
    q3: float
    samples: int

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def json(self, digits: int = 3) -> dict[str, float | int]:
        return {
            "median": round(self.median, digits),
            "q1": round(self.q1, digits),
            "q3": round(self.q3, digits),
            "samples": self.samples,
        }


def spread(values: Sequence[float]) -> Spread:
    """Median and quartiles (inclusive method: with 3 samples, the midpoints of the halves)."""
    if not values:
        return Spread(math.nan, math.nan, math.nan, 0)
    if len(values) == 1:
        return Spread(values[0], values[0], values[0], 1)
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return Spread(median, q1, q3, len(values))


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]
