"""The cross-size model: validation accuracy as a function of a schedule and the dataset size.

Inputs are the per-layer switch epochs divided by E (so every layer's input is in [0, 1]) and the log of
the training-set size, rescaled so that the fitted sizes span [0, 1]; the output is the run's validation
accuracy. The model is scikit-learn's `GaussianProcessRegressor` with

    ConstantKernel * Matern(nu=2.5, one length scale per input: ARD) + WhiteKernel,   normalize_y=True

Why a Gaussian process: the data are tens of noisy runs (a few searches of 8-50 trials each), and an
answer needs an interval, not only a point; a GP gives a calibrated posterior of the mean from that little
data and is smooth in both the schedule and log size, so neighbouring sizes inform each other. Matern 5/2
rather than RBF: accuracy surfaces are smooth but not infinitely so (the usual choice for hyper-parameter
surfaces, Snoek et al. 2012). ARD: a layer whose switch epoch does not matter gets a long length scale
instead of diluting the others. The WhiteKernel learns the run-to-run (seed) noise, which the interval of
the *expected* accuracy excludes. Random forests or boosted trees give no calibrated interval from this few
points; a parametric (quadratic) fit would need the surface's shape known in advance. The kernel's
hyper-parameters are fitted by maximum marginal likelihood with a fixed seed for the optimiser's restarts,
so the same runs always give the same model. scikit-learn is imported on the first fit: it costs the API
about a second at start-up otherwise.
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
class Surrogate:
    """A fitted model (see the module docstring); `fit_surrogate` makes one."""

    regressor: Any  # sklearn.gaussian_process.GaussianProcessRegressor, fitted
    epochs: int
    log_low: float  # log of the smallest fitted size: 0 on the size axis
    log_span: float  # log(largest / smallest): 1 on the size axis
    noise_sd: float  # fitted standard deviation of one run's val_acc around its expected value

    def predict(self, schedules: Sequence[Sequence[int]], num_samples: int) -> list[Predicted]:
        """Each schedule's expected validation accuracy at `num_samples` images, with its 95% interval."""
        x = self._inputs(np.asarray(schedules, dtype=float), np.full(len(schedules), float(num_samples)))
        mean, sd = self.regressor.predict(x, return_std=True)
        # The predictive sd includes one run's noise; the expected accuracy's does not.
        latent = np.sqrt(np.maximum(sd**2 - self.noise_sd**2, 0.0))
        return [
            Predicted(tuple(int(e) for e in s), float(m), float(m - Z95 * d), float(m + Z95 * d))
            for s, m, d in zip(schedules, mean, latent, strict=True)
        ]

    def top(self, schedules: Sequence[Sequence[int]], num_samples: int, k: int = 1) -> list[Predicted]:
        """The `k` schedules of highest expected accuracy at `num_samples`, best first (ties: listed first)."""
        predicted = self.predict(schedules, num_samples)
        order = sorted(range(len(predicted)), key=lambda i: (-predicted[i].val_acc, i))
        return [predicted[i] for i in order[:k]]

    def _inputs(self, schedules: NDArray[np.float64], sizes: NDArray[np.float64]) -> NDArray[np.float64]:
        size_axis = (np.log(sizes) - self.log_low) / self.log_span
        return np.column_stack([schedules / self.epochs, size_axis])


def fit_surrogate(
    schedules: Sequence[Sequence[int]], sizes: Sequence[int], val_acc: Sequence[float], epochs: int
) -> Surrogate:
    """Fit the model on runs (schedule, training-set size, validation accuracy) of at least two sizes."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    log_sizes = np.log(np.asarray(sizes, dtype=float))
    log_low, log_span = float(log_sizes.min()), float(log_sizes.max() - log_sizes.min())
    if log_span <= 0.0:
        raise ValueError("the cross-size model needs runs of at least two sizes")
    depth = len(schedules[0])
    # Length scales from a twentieth of the range (one epoch in ten matters) to far beyond it (it does not).
    kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
        length_scale=[0.5] * depth + [1.0], length_scale_bounds=(0.05, 50.0), nu=2.5
    ) + WhiteKernel(0.1, (1e-4, 1.0))
    regressor = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=_RESTARTS, random_state=_SEED)
    model = Surrogate(regressor, epochs, log_low, log_span, 0.0)
    x = model._inputs(np.asarray(schedules, dtype=float), np.asarray(sizes, dtype=float))
    y = np.asarray(val_acc, dtype=float)
    with warnings.catch_warnings():
        # A length scale at its upper bound is an answer (that layer does not matter), not a failure.
        warnings.simplefilter("ignore", ConvergenceWarning)
        regressor.fit(x, y)
    # The white kernel's level is in units of y normalised as normalize_y does (its sd, 1 when constant).
    noise_sd = math.sqrt(regressor.kernel_.k2.noise_level) * (float(np.std(y)) or 1.0)
    return Surrogate(regressor, epochs, log_low, log_span, noise_sd)
