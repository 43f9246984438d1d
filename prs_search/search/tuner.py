"""The Ray Tune `Tuner` of a search's trials and of its finalists' re-evaluation: what both share (the
resources of a trial, where results go, the checkpoint kept, retries, the lease's stopper) said once; the
caller brings its trainable, callback, trial folder names and, for the search, its searcher and scheduler."""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ray import tune
from ray.tune import Callback
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from prs_search.search.outcome import METRIC
from prs_search.search.plan import Plan


def build_tuner(
    trainable: Callable[..., None], plan: Plan, *, name: str,
    callback: Callback, trial_dirname: Callable[[Trial], str], stopper: tune.Stopper | None,
    param_space: dict[str, Any] | None = None, search_alg: Searcher | None = None,
    scheduler: TrialScheduler | None = None, num_samples: int = 1, max_concurrent_trials: int | None = None,
) -> tune.Tuner:  # fmt: skip
    """A Tuner that runs `trainable(config, splits=..., base=...)` on the plan's data, with the resources its
    request asks per trial, in a new experiment folder `name`-TIMESTAMP under its storage path."""
    request = plan.job
    return tune.Tuner(
        tune.with_resources(
            tune.with_parameters(trainable, splits=plan.splits, base=plan.base),
            {"cpu": request.cpus_per_trial, "gpu": request.gpus_per_trial},
        ),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            metric=METRIC, mode="max", search_alg=search_alg, scheduler=scheduler, num_samples=num_samples,
            max_concurrent_trials=max_concurrent_trials, trial_dirname_creator=trial_dirname,
            # A finished trial's worker process runs the next one: no process start-up per trial, and
            # compiled kernels (--compile) are reused by every trial the worker runs.
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            # A fresh experiment folder per driver run: resuming is ours (SQL + Optuna), not Ray's.
            name=f"{name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S-%f')}",
            storage_path=str(request.storage_path.resolve()),
            callbacks=[callback],
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=request.max_failures),
            stop=stopper,
            verbose=0,
        ),
    )  # fmt: skip
