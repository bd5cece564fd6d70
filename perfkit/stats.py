"""The statistics every figure of bench/ and loadtest/ is computed with.

Percentiles are nearest-rank: the p-th percentile is the smallest sample at or below which p % of the
samples lie, so it is always a latency that was measured. The median is the 50th percentile, by the
same rule. An empty sample has no percentile: the answer is NaN, which prints as `nan` and fails every
comparison with a target, so a run that measured nothing can never pass one (0 would read as an instant
answer and pass "p99 under 200 ms").
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def percentile(values: Iterable[float], p: float) -> float:
    """The nearest-rank `p`-th percentile (0 <= p <= 100) of `values`; NaN when there are none."""
    if not 0 <= p <= 100:
        raise ValueError(f"a percentile is between 0 and 100, not {p!r}")
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(len(ordered) * p / 100))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    """The 50th percentile, nearest rank (the lower middle of an even count); NaN when there are none."""
    return percentile(values, 50)
