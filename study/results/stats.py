"""Statistics of confirmed results: bootstrap intervals, paired comparisons, Holm's correction.

Pure functions over lists of numbers; scipy does the bootstrap and the paired t-test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 10_000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class Interval:
    """Mean of `values` and its 95% bootstrap interval (percentile method; None bounds for one value)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    def __str__(self) -> str:
        if self.low is None:
            return f"{self.mean:.4g} (n={self.n})"
        return f"{self.mean:.4g} [{self.low:.4g}, {self.high:.4g}] (n={self.n})"


def bootstrap_interval(values: list[float]) -> Interval:
    """Mean and 95% percentile-bootstrap interval of the mean (seeded, 10,000 resamples)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("`values` must hold at least one number")
    mean = float(x.mean())
    if len(x) < 2 or np.all(x == x[0]):
        return Interval(mean, None if len(x) < 2 else mean, None if len(x) < 2 else mean, len(x))
    result = stats.bootstrap((x,), np.mean, confidence_level=CONFIDENCE, n_resamples=RESAMPLES,
                             method="percentile", rng=np.random.default_rng(BOOTSTRAP_SEED))
    return Interval(mean, float(result.confidence_interval.low), float(result.confidence_interval.high), len(x))


@dataclass(frozen=True)
class Comparison:
    """A paired comparison: the interval of the mean difference (a - b), the paired t-test p-value, and the
    p-value after Holm's correction over all comparisons made together (set by `holm`)."""

    difference: Interval
    p_value: float
    p_holm: float | None = None


def paired_comparison(a: list[float], b: list[float]) -> Comparison:
    """Compare `a` with `b`, paired element by element (the same data subset and evaluation noise)."""
    if len(a) != len(b) or len(a) < 2:
        raise ValueError(f"paired samples need equal lengths >= 2, got {len(a)} and {len(b)}")
    diff = [x - y for x, y in zip(a, b)]
    if np.allclose(diff, diff[0]):
        p = 1.0 if diff[0] == 0 else 0.0
    else:
        p = float(stats.ttest_rel(a, b).pvalue)
    return Comparison(bootstrap_interval(diff), p)


def holm(p_values: list[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the input order."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def significant(p: float | None, alpha: float = 1 - CONFIDENCE) -> bool:
    """Whether an (adjusted) p-value is below alpha."""
    return p is not None and not math.isnan(p) and p < alpha


def expected_best(values: list[float], k: int, mode: str = "max") -> float:
    """The expected best of `k` trials drawn at random (with replacement) from these trial results: how
    good a search of `k` trials is on average (Dodge et al., 2019). Exact, from the order statistics:
    E[max] = sum_i v_(i) * ((i/n)^k - ((i-1)/n)^k) over the values sorted from worst to best."""
    if not values or k < 1:
        raise ValueError(f"need at least one value and k >= 1, got {len(values)} values and k={k}")
    ordered = sorted(values, reverse=mode == "min")  # worst first
    n = len(ordered)
    return float(sum(v * ((i / n) ** k - ((i - 1) / n) ** k) for i, v in enumerate(ordered, start=1)))
