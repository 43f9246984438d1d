"""Warm start: a new search first tries the schedules the cross-size model (`prs_search.surrogate`) expects
to be best at its size, fitted on the dataset's other sizes searched with the same model, stem, conv
variant, depth and epochs.

`--warm-start` asks for it (one error line when the model cannot answer here), `--no-warm-start` turns it
off, and by default it is on exactly when the model can answer (2 other sizes with 8 finished runs each,
this size within a factor 2 of them). It enqueues the model's `warm_count(budget)` best schedules of the
search's own space that lie at least `MIN_APART` x E switch epochs apart (L1) as the first trials, before
the space's `initial` ones: a model that is nearly flat in the schedule ranks neighbours together (on
digits its best three were 8,5,4,2, 9,5,4,2 and 8,6,4,2, predicted equal), and three neighbours teach the
search what one would; a resumed search reads
them back from the stored `WarmStart` and, as for `initial`, enqueues nothing into a study that has trials.
"""

import logging
import math
from collections.abc import Sequence

from prs_search.errors import ConfigError
from prs_search.schedule import Schedule
from prs_search.schemas import WarmStart
from prs_search.search.plan import Plan
from prs_search.store import ResultsStore
from prs_search.surrogate import GroupKey, Predicted, load_groups, predict_best, why_not

log = logging.getLogger(__name__)
MAX_WARM = 3
MIN_APART = 0.5  # enqueued schedules differ by at least this many epochs of E in total over the layers
RANKED = 1000  # the model's best schedules the warm start chooses from, best first


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
    answer = predict_best(group, n, RANKED, kinds={plan.space.schedule})
    chosen = apart(answer.top, warm_count(plan.job.budget), MIN_APART * plan.job.epochs)
    log.info("warm start: %d schedules from %d runs of sizes %s", len(chosen), answer.runs, answer.sizes)
    return WarmStart(
        schedules=tuple(p.schedule for p in chosen), predicted_val_acc=tuple(p.val_acc for p in chosen),
        sizes=answer.sizes, runs=answer.runs,
    )  # fmt: skip


def apart(ranked: Sequence[Predicted], k: int, distance: float) -> list[Predicted]:
    """The first `k` of `ranked` (best first) each at least `distance` switch epochs (L1) from those before it."""
    chosen: list[Predicted] = []
    for p in ranked:
        if all(sum(abs(a - b) for a, b in zip(p.schedule, c.schedule, strict=True)) >= distance for c in chosen):
            chosen.append(p)
            if len(chosen) == k:
                break
    return chosen


def warm_params(plan: Plan, warm: WarmStart | None) -> list[dict[str, int]]:
    """The warm-start schedules as the space's Optuna parameters, to enqueue first."""
    if warm is None:
        return []
    return [plan.space.params_of(Schedule.of(s, plan.job.epochs)) for s in warm.schedules]
