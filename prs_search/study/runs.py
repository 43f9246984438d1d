"""One run of a study, and running many at once: in this process, or as Ray tasks (`--jobs`).

A run is described by a `RunSpec` (everything it needs, picklable) and done by `run_one`, which loads
the data itself, trains the hybrid with its schedule or the plain CNN reference for the same optimiser
steps, and returns a `RunOutcome`. The same function runs in this process (`--jobs 1`) and in a Ray
worker, so a run's numbers do not depend on where it ran: the seed fixes the subset, split,
initialisation and data order, and the torch thread count is part of the spec (CPU kernels may round
differently with another thread count, so that is the one thing that must match too).

The study's driver stores every outcome as it arrives: a run that finished is never lost when another
fails or the driver is stopped.
"""

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from prs_search.analysis.features import fourier_profile
from prs_search.analysis.fourier import FourierProfile, Reading
from prs_search.analysis.sources import DataSpec
from prs_search.baseline import CnnRecipe, train_accuracy, train_cnn
from prs_search.errors import ClusterError, PRSError
from prs_search.field_types import StudyRunStatus
from prs_search.recipe import TrainConfig
from prs_search.schedule import Schedule
from prs_search.train import default_device, train

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSpec:
    """One run: the hybrid with `schedule` (`config` its recipe), or the plain CNN (`cnn_steps`)."""

    key: tuple[int, str, int]  # (num_samples, label, seed), the study's key of the run
    data: DataSpec  # the subset, by the run's seed
    data_dir: Path
    download: bool
    config: TrainConfig  # its seed is the run's
    schedule: Schedule | None  # None: the plain CNN reference
    cnn_steps: int
    threads: int
    fourier: bool  # analyse the trained hybrid's feature maps (`fourier_profile`)
    reading: Reading
    fourier_images: int

    @property
    def seed(self) -> int:
        return self.config.seed


@dataclass(frozen=True)
class RunOutcome:
    status: StudyRunStatus
    val_acc: float
    test_acc: float | None
    train_acc: float | None  # None when training diverged
    seconds: float
    error: str | None = None
    profile: FourierProfile | None = None


def run_one(spec: RunSpec, on_epoch: Callable[[int], None] | None = None) -> RunOutcome:
    """Train the run `spec` describes and measure it (validation, test, train accuracy, the Fourier profile)."""
    torch.set_num_threads(spec.threads)
    splits = spec.data.splits(spec.data_dir, spec.download)
    if spec.schedule is None:
        recipe = CnnRecipe(steps=spec.cnn_steps, batch_size=spec.config.batch_size, seed=spec.seed)
        cnn = train_cnn(splits, recipe)
        return RunOutcome("completed", cnn.val_acc, cnn.test_acc, cnn.train_acc, cnn.seconds)
    report = None if on_epoch is None else (lambda e, _state: on_epoch(e.epoch + 1))
    result, model = train(spec.config, splits, spec.schedule, evaluate_test=True, on_epoch=report)
    if result.status != "completed":
        return RunOutcome(result.status, result.val_acc, None, None, result.seconds, result.error)
    device = default_device()
    profile = None
    if spec.fourier:
        profile = fourier_profile(model, splits.val, splits.mean, splits.std, reading=spec.reading,
                                  max_images=spec.fourier_images, device=device)  # fmt: skip
    train_acc = train_accuracy(model, splits, device, spec.seed)
    return RunOutcome("completed", result.val_acc, result.test_acc, train_acc, result.seconds, profile=profile)


def default_threads(jobs: int) -> int:
    """Torch threads per run: the cores this process may use, shared among the runs at once."""
    return max(1, len(os.sched_getaffinity(0)) // jobs)


def run_inline(specs: Sequence[RunSpec], on_start: Callable[[RunSpec], Callable[[int], None]]) -> Iterator[
    tuple[RunSpec, RunOutcome]
]:  # fmt: skip
    """The runs one after another in this process; `on_start(spec)` gives the run's epoch callback."""
    for spec in specs:
        yield spec, run_one(spec, on_start(spec))


def run_on_ray(
    specs: Sequence[RunSpec], jobs: int, gpus_per_job: float, on_start: Callable[[RunSpec], object]
) -> Iterator[tuple[RunSpec, RunOutcome]]:
    """The runs as Ray tasks, at most `jobs` at once, each with one CPU and `gpus_per_job` GPUs (a
    fraction packs runs on one GPU, as `run --gpus-per-trial`); outcomes in the order they finish.

    Ray must be connected (`prs_search.search.cluster.connect`). When a task fails (its worker died, an
    error inside it), nothing more is started, the runs already going are let finish and yielded, and
    then the first failure is raised: no finished run is lost to another's failure."""
    import ray

    remote = ray.remote(num_cpus=1, num_gpus=gpus_per_job, max_retries=0)(run_one)
    waiting = list(reversed(specs))
    running: dict[ray.ObjectRef[RunOutcome], RunSpec] = {}
    failure: PRSError | None = None
    while waiting or running:
        while failure is None and waiting and len(running) < jobs:
            spec = waiting.pop()
            running[remote.remote(spec)] = spec
            on_start(spec)
        done, _ = ray.wait(list(running), num_returns=1)
        spec = running.pop(done[0])
        try:
            outcome: RunOutcome = ray.get(done[0])
        except ray.exceptions.RayError as err:
            failure = failure or _explain(err, spec)
            waiting.clear()
            continue
        yield spec, outcome
    if failure is not None:
        raise failure


def _explain(err: Exception, spec: RunSpec) -> PRSError:
    """A task's failure as the one line the CLI prints: the user's own error (missing data, ...) as it
    would read in this process, anything else with the run it hit."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, PRSError):
        return cause
    what = f"{spec.key[1]} at {spec.key[0]} images, seed {spec.key[2]}"
    return ClusterError(f"the run of {what} failed in its Ray worker: {str(err).splitlines()[0]}")
