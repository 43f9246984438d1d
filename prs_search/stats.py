"""Means with 95% confidence intervals over seeds, and paired differences: the arithmetic behind every
"how sure are we" the project reports (the finalists' re-evaluation, the recommendation, the studies).

Student's t: with n values of mean m and sample standard deviation s, the interval is
m +- t(0.975, n - 1) * s / sqrt(n). One value has no interval (`low` and `high` are None). A paired
difference is the interval of the per-seed differences a_i - b_i (same seed = same subset, split and
initialisation), which removes what the seed does to both. `standard_error`: how far one accuracy on n
images may be off (binomial), what the validation split's size is judged by.
"""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as scipy_stats

from prs_search.errors import ConfigError

LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean over `n` values with its 95% confidence interval (None, None for a single value)."""

    mean: float
    low: float | None
    high: float | None
    n: int

    @property
    def excludes_zero(self) -> bool:
        """The interval lies wholly above or below 0 (a difference that the seeds' noise does not explain)."""
        return self.low is not None and self.high is not None and (self.low > 0 or self.high < 0)

    def __str__(self) -> str:
        if self.low is None or self.high is None:
            return f"{self.mean:.4f} (1 seed, no interval)"
        return f"{self.mean:.4f} [{self.low:.4f}, {self.high:.4f}]"


def t_quantile(n: int) -> float:
    """t(0.975, n - 1): the half-width of a 95% interval in standard errors, for n >= 2 values."""
    if n < 2:
        raise ConfigError(f"a confidence interval needs at least 2 values, got {n}")
    return float(scipy_stats.t.ppf(0.5 + LEVEL / 2, n - 1))


def mean_interval(values: Sequence[float], bounds: tuple[float, float] | None = None) -> Interval:
    """The mean of `values` and its 95% t-interval, clipped to `bounds` when given (an accuracy cannot
    exceed 1, whatever a symmetric interval over three seeds says)."""
    if not values:
        raise ConfigError("no values to average")
    mean = statistics.fmean(values)
    if len(values) == 1:
        return Interval(mean, None, None, 1)
    half = t_quantile(len(values)) * statistics.stdev(values) / math.sqrt(len(values))
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(mean, low, high, len(values))


def accuracy_interval(values: Sequence[float]) -> Interval:
    """`mean_interval` of accuracies: clipped to [0, 1]."""
    return mean_interval(values, bounds=(0.0, 1.0))


def paired_difference(a: Sequence[float], b: Sequence[float]) -> Interval:
    """Mean and 95% interval of a_i - b_i over paired values (the same seeds, in the same order); the
    differences of two accuracies lie in [-1, 1]."""
    if len(a) != len(b):
        raise ConfigError(f"paired values need the same seeds: {len(a)} against {len(b)}")
    return mean_interval([x - y for x, y in zip(a, b, strict=True)], bounds=(-1.0, 1.0))


def standard_error(accuracy: float, images: int) -> float:
    """Standard error of an accuracy measured on `images` images (binomial): sqrt(p (1 - p) / n)."""
    return math.sqrt(max(accuracy * (1.0 - accuracy), 0.0) / images) if images > 0 else math.nan
