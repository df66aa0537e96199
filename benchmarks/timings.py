"""Medians and percentiles of measured durations, as the benchmarks report them."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

__all__ = ["Spread", "percentile"]


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank `q` quantile (0..1) of `values`: one of the measured values."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Spread:
    """Median, p95, min and max of a series of durations in seconds."""

    count: int
    median: float
    p95: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Spread:
        if not values:
            raise ValueError("no values to summarize")
        return cls(
            len(values),
            statistics.median(values),
            percentile(values, 0.95),
            min(values),
            max(values),
        )

    def ms(self) -> str:
        """`median 12.3 ms  p95 20.1 ms  min 8.0 ms  max 31.4 ms  (n=30)`."""
        return (
            f"median {self.median * 1000:7.1f} ms  p95 {self.p95 * 1000:7.1f} ms  "
            f"min {self.low * 1000:7.1f} ms  max {self.high * 1000:7.1f} ms  (n={self.count})"
        )
