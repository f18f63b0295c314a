"""Statistics of confirmed results, against hand-computed values and independent formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from study.results.stats import bootstrap_interval, holm, paired_comparison


def test_holm_matches_the_step_down_rule_by_hand() -> None:
    # sorted: 0.01 x 3 = 0.03; 0.03 x 2 = 0.06; 0.04 x 1 = 0.04 -> raised to 0.06 (monotone)
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.6]) == [1.0, 1.0]  # capped at 1
    assert holm([0.02]) == [0.02] and holm([]) == []


def test_paired_comparison_is_the_paired_t_test_on_the_differences() -> None:
    a, b = [0.30, 0.42, 0.35, 0.50, 0.41], [0.20, 0.35, 0.33, 0.41, 0.30]
    d = np.subtract(a, b)
    t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
    p_hand = 2 * scipy_stats.t.sf(abs(t), df=len(d) - 1)
    result = paired_comparison(a, b)
    assert result.p_value == pytest.approx(p_hand)
    assert result.difference.mean == pytest.approx(d.mean())
    assert result.difference.low < d.mean() < result.difference.high
    assert d.min() <= result.difference.low and result.difference.high <= d.max()
    with pytest.raises(ValueError, match="equal lengths"):
        paired_comparison([1.0, 2.0], [1.0])


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    values = [1.0, 2.0, 4.0, 8.0, 3.0]
    first, again = bootstrap_interval(values), bootstrap_interval(values)
    assert first == again  # seeded: the same numbers give the same interval
    assert first.mean == pytest.approx(3.6) and first.low < 3.6 < first.high and first.n == 5
    assert 1.0 <= first.low and first.high <= 8.0
    single = bootstrap_interval([2.5])
    assert (single.mean, single.low, single.high) == (2.5, None, None)
    constant = bootstrap_interval([2.0, 2.0, 2.0])
    assert (constant.low, constant.high) == (2.0, 2.0)


def test_identical_pairs_have_no_difference() -> None:
    result = paired_comparison([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert result.difference.mean == 0 and result.p_value == 1.0
