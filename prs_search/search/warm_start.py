"""Warm start: a new search first tries the schedules the cross-size model (`prs_search.surrogate`) expects
to be best at its size, fitted on the dataset's other sizes searched with the same model, stem, conv
variant, depth and epochs.

`--warm-start` asks for it (one error line when the model cannot answer here), `--no-warm-start` turns it
off, and by default it is on exactly when the model can answer (2 other sizes with 8 finished runs each,
this size within a factor 2 of them). It enqueues the model's `warm_count(budget)` best distinct schedules
of the search's own space as the first trials, before the space's `initial` ones; a resumed search reads
them back from the stored `WarmStart` and, as for `initial`, enqueues nothing into a study that has trials.
"""

import logging
import math

from prs_search.errors import ConfigError
from prs_search.schedule import Schedule
from prs_search.schemas import WarmStart
from prs_search.search.plan import Plan
from prs_search.store import ResultsStore
from prs_search.surrogate import GroupKey, load_groups, predict_best, why_not

log = logging.getLogger(__name__)
MAX_WARM = 3


def warm_count(budget: int) -> int:
    """Warm-start trials for a budget: a quarter of it, rounded up, at most 3 (the sampler keeps the rest)."""
    return min(MAX_WARM, math.ceil(budget / 4))


def warm_start(store: ResultsStore, plan: Plan) -> WarmStart | None:
    """The warm start of a new search of `plan`, or None (off, or not possible and not asked for)."""
    asked = plan.job.warm_start
    if asked is False:
        return None
    n = plan.splits.num_samples
    key = GroupKey(plan.job.model, plan.job.stem, str(plan.architecture["conv"]), plan.depth, plan.job.epochs)
    group = load_groups(store, plan.job.dataset, without_size=n).get(key)
    reason = (
        f"no other size of {plan.job.dataset} was searched with model {key.model}, stem {key.stem}, conv "
        f"{key.conv}, depth {key.depth} and {key.epochs} epochs"
        if group is None
        else why_not(group, n)
    )
    if reason is not None:
        if asked:
            raise ConfigError(f"cannot warm-start: {reason}; run without --warm-start")
        log.info("no warm start: %s", reason)
        return None
    assert group is not None  # for the type checker: the reason says why it is not
    answer = predict_best(group, n, warm_count(plan.job.budget), kinds={plan.space.schedule})
    log.info("warm start: %d schedules from %d runs of sizes %s", len(answer.top), answer.runs, answer.sizes)
    return WarmStart(
        schedules=tuple(p.schedule for p in answer.top), predicted_val_acc=tuple(p.val_acc for p in answer.top),
        sizes=answer.sizes, runs=answer.runs,
    )  # fmt: skip


def warm_params(plan: Plan, warm: WarmStart | None) -> list[dict[str, int]]:
    """The warm-start schedules as the space's Optuna parameters, to enqueue first."""
    if warm is None:
        return []
    return [plan.space.params_of(Schedule.of(s, plan.job.epochs)) for s in warm.schedules]
