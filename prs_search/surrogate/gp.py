"""The cross-size model: validation accuracy as a function of a schedule and the dataset size.

    val_acc(s, N) = level(N) + f(s / E, log N) + noise

- `level(N)`: how accurate a run at N images is on average, whatever its schedule: the mean of each fitted
  size's runs, linear in log size between them, and the nearest size's beyond the ends. The
  size moves accuracy far more than the schedule does (digits, `tiny`: 0.34 at 150 images, 0.98 at
  1,200), and not linearly in log size: a stationary kernel asked to learn both at once explains the size
  trend by a length scale so short that sizes become unrelated, and then answers nothing between them
  (measured: benchmarks/RESULTS.md). Taking the level out leaves the part that ranks schedules.
- `f`: scikit-learn's `GaussianProcessRegressor` on what is left, with
  `ConstantKernel * Matern(nu=2.5, one length scale per input: ARD) + WhiteKernel` over the per-layer
  switch epochs / E and log size (rescaled so the fitted sizes span [0, 1]), `normalize_y=True`.

Why a Gaussian process: the data are tens of noisy runs (a few searches of 8-50 trials each) and an answer
needs an interval, not only a point; a GP gives a posterior of the mean from that little data and is smooth
in both the schedule and log size, so neighbouring sizes inform each other. Matern 5/2 rather than RBF:
accuracy surfaces are smooth but not infinitely so (the usual choice for hyper-parameter surfaces, Snoek et
al. 2012). ARD: a layer whose switch epoch does not matter gets a long length scale instead of diluting the
others. The WhiteKernel learns the run-to-run (seed) noise, which the interval of the *expected* accuracy
excludes. Random forests or boosted trees give no calibrated interval from this few points; a parametric
(quadratic) surface would need its shape known in advance. The hyper-parameters are fitted by maximum
marginal likelihood with a fixed seed for the optimiser's restart, so the same runs give the same model.

The interval of the expected accuracy is the GP's 95% posterior interval of `f` moved by the range the
level can take: between two fitted sizes, anywhere from the lower to the higher of their means (each with
its 95% interval), since more data does not make a run worse on average but the level need not be linear in
log size (on digits it is convex: a straight line misses a held-out size by 0.16); beyond an end, from that
end's mean out to the end segment's slope carried on that far. So it is a 95% interval where the level is
monotone in size, and wider than one where the level is close to linear. scikit-learn is imported on the first fit: it
costs the API about a second at start-up otherwise.
"""

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Z95 = 1.959963984540054  # two-sided 95% normal quantile
_RESTARTS = 1  # optimiser restarts from random hyper-parameters (seeded): one guards against a poor local optimum
_SEED = 0


@dataclass(frozen=True)
class Predicted:
    """The model's belief about one schedule at one size."""

    schedule: tuple[int, ...]
    val_acc: float  # expected (mean over seeds) validation accuracy
    low: float  # its 95% interval
    high: float


@dataclass(frozen=True)
class Level:
    """The mean accuracy of each fitted size (ascending) and its standard error."""

    log_sizes: tuple[float, ...]
    means: tuple[float, ...]
    errors: tuple[float, ...]

    def at(self, num_samples: int) -> tuple[float, float, float]:
        """The level at `num_samples` and the range it lies in (see the module docstring)."""
        x, logs, means = math.log(num_samples), self.log_sizes, self.means
        i = min(max(int(np.searchsorted(logs, x)), 1), len(logs) - 1)
        t = (x - logs[i - 1]) / (logs[i] - logs[i - 1])
        low = [m - Z95 * e for m, e in zip(means, self.errors, strict=True)]
        high = [m + Z95 * e for m, e in zip(means, self.errors, strict=True)]
        if 0.0 <= t <= 1.0:  # between two sizes: linear in log size, within their ranges
            point = (1 - t) * means[i - 1] + t * means[i]
            return point, min(low[i - 1], low[i]), max(high[i - 1], high[i])
        # Beyond an end: that end's level, and up to the end segment's slope, carried on, away from it.
        end, reach = (i - 1, -t) if t < 0 else (i, t - 1)
        step = reach * abs(means[i] - means[i - 1])
        going_down = (t < 0) == (means[i] >= means[i - 1])  # towards lower accuracy
        return means[end], low[end] - (step if going_down else 0.0), high[end] + (0.0 if going_down else step)


@dataclass(frozen=True)
class Surrogate:
    """A fitted model (see the module docstring); `fit_surrogate` makes one."""

    regressor: Any  # sklearn.gaussian_process.GaussianProcessRegressor, fitted on val_acc - level
    level: Level
    epochs: int
    noise_sd: float  # fitted standard deviation of one run's val_acc around its expected value

    def predict(self, schedules: Sequence[Sequence[int]], num_samples: int) -> list[Predicted]:
        """Each schedule's expected validation accuracy at `num_samples` images, with its 95% interval."""
        x = self._inputs(np.asarray(schedules, dtype=float), np.full(len(schedules), float(num_samples)))
        residual, sd = self.regressor.predict(x, return_std=True)
        level, low, high = self.level.at(num_samples)
        # The GP's predictive sd includes one run's noise; the expected accuracy's does not.
        latent = np.sqrt(np.maximum(sd**2 - self.noise_sd**2, 0.0))
        return [
            Predicted(tuple(int(e) for e in s), level + float(m), *_accuracy(low + m - Z95 * d, high + m + Z95 * d))
            for s, m, d in zip(schedules, residual, latent, strict=True)
        ]

    def top(self, schedules: Sequence[Sequence[int]], num_samples: int, k: int = 1) -> list[Predicted]:
        """The `k` schedules of highest expected accuracy at `num_samples`, best first (ties: listed first)."""
        predicted = self.predict(schedules, num_samples)
        order = sorted(range(len(predicted)), key=lambda i: (-predicted[i].val_acc, i))
        return [predicted[i] for i in order[:k]]

    def _inputs(self, schedules: NDArray[np.float64], sizes: NDArray[np.float64]) -> NDArray[np.float64]:
        low, high = self.level.log_sizes[0], self.level.log_sizes[-1]
        return np.column_stack([schedules / self.epochs, (np.log(sizes) - low) / (high - low)])


def fit_surrogate(
    schedules: Sequence[Sequence[int]], sizes: Sequence[int], val_acc: Sequence[float], epochs: int
) -> Surrogate:
    """Fit the model on runs (schedule, training-set size, validation accuracy) of at least two sizes."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    n, y = np.asarray(sizes, dtype=int), np.asarray(val_acc, dtype=float)
    level = _level(n, y)
    depth = len(schedules[0])
    # Length scales from a twentieth of the range (one epoch in ten matters) to far beyond it (it does not).
    matern = Matern(length_scale=[0.5] * depth + [1.0], length_scale_bounds=(0.05, 50.0), nu=2.5)
    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * matern + WhiteKernel(0.1, (1e-4, 1.0))
    regressor = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=_RESTARTS, random_state=_SEED)
    model = Surrogate(regressor, level, epochs, 0.0)
    residual = y - np.array([level.at(int(size))[0] for size in n])
    with warnings.catch_warnings():
        # A length scale at its upper bound is an answer (that layer does not matter), not a failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        regressor.fit(model._inputs(np.asarray(schedules, dtype=float), n.astype(float)), residual)
    # The white kernel's level is in units of y normalised as normalize_y does (its sd, 1 when constant).
    noise_sd = math.sqrt(regressor.kernel_.k2.noise_level) * (float(np.std(residual)) or 1.0)
    return Surrogate(regressor, level, epochs, noise_sd)


def _accuracy(low: float, high: float) -> tuple[float, float]:
    """An interval of accuracies, within [0, 1]."""
    return max(float(low), 0.0), min(float(high), 1.0)


def _level(sizes: NDArray[np.int_], val_acc: NDArray[np.float64]) -> Level:
    distinct = np.unique(sizes)
    if len(distinct) < 2:
        raise ValueError("the cross-size model needs runs of at least two sizes")
    groups = [val_acc[sizes == size] for size in distinct]
    errors = [float(np.std(g, ddof=1) / math.sqrt(len(g))) if len(g) > 1 else 0.0 for g in groups]
    return Level(
        tuple(float(math.log(size)) for size in distinct), tuple(float(g.mean()) for g in groups), tuple(errors)
    )
