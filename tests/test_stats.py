"""The interval arithmetic behind every "how sure": known t quantiles and hand-computed intervals."""

import math

import pytest

from prs_search.errors import ConfigError
from prs_search.stats import accuracy_interval, mean_interval, paired_difference, standard_error, t_quantile


@pytest.mark.parametrize(("n", "t"), [(2, 12.7062), (3, 4.3027), (5, 2.7764), (30, 2.0452)])
def test_t_quantiles(n: int, t: float) -> None:
    assert t_quantile(n) == pytest.approx(t, abs=1e-4)


def test_mean_interval_by_hand() -> None:
    interval = mean_interval([0.8, 0.9, 1.0])  # mean 0.9, sd 0.1
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert (interval.mean, interval.n) == (pytest.approx(0.9), 3)
    assert (interval.low, interval.high) == pytest.approx((0.9 - half, 0.9 + half))
    clipped = accuracy_interval([0.8, 0.9, 1.0])
    assert clipped.low == pytest.approx(0.9 - half) and clipped.high == 1.0  # an accuracy stays <= 1


def test_one_value_has_no_interval() -> None:
    interval = mean_interval([0.7])
    assert (interval.mean, interval.low, interval.high, interval.n) == (0.7, None, None, 1)
    assert not interval.excludes_zero
    assert "no interval" in str(interval)
    with pytest.raises(ConfigError, match="no values"):
        mean_interval([])
    with pytest.raises(ConfigError, match="at least 2"):
        t_quantile(1)


def test_paired_difference_removes_what_the_seed_does_to_both() -> None:
    # Seeds move both schedules together (0.80 .. 0.90); the difference is steady at +0.04 .. +0.05.
    a, b = [0.85, 0.90, 0.80], [0.80, 0.86, 0.75]
    paired = paired_difference(a, b)  # differences 0.05, 0.04, 0.05
    assert paired.mean == pytest.approx(0.14 / 3)
    half = 4.302653 * 0.0057735 / math.sqrt(3)
    assert (paired.low, paired.high) == pytest.approx((0.14 / 3 - half, 0.14 / 3 + half), abs=1e-5)
    assert paired.excludes_zero
    # Unpaired, the same numbers say nothing: each mean's interval is wider than the difference.
    assert mean_interval(a).low < mean_interval(b).high
    noisy = paired_difference([0.90, 0.80, 0.85], [0.85, 0.78, 0.80])  # differences 0.05, 0.02, 0.05
    assert noisy.low is not None and noisy.low < 0 < noisy.mean and not noisy.excludes_zero
    with pytest.raises(ConfigError, match="same seeds"):
        paired_difference([0.1, 0.2], [0.1])


def test_standard_error_of_an_accuracy() -> None:
    assert standard_error(0.9, 100) == pytest.approx(0.03)
    assert standard_error(1.0, 500) == 0.0
    assert math.isnan(standard_error(0.5, 0))
