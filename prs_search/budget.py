"""The best trial of a searched size within a compute budget (`prs-search recommend --max-flops/--max-seconds`,
GET /v1/recommendation's `max_flops` / `max_seconds`).

Candidates: the COMPLETE trials of every search of the dataset at that size whose cost is known: `flops`, the
training FLOPs counted over their epochs (trials trained before counting have none and are not candidates;
the answer says how many), or `seconds`, their training time. The chosen one has the highest final
validation accuracy within the budget; ties go to the cheaper, then to the older trial. No SQL here.
"""

import math

from pydantic import Field

from prs_search.errors import ConfigError, NotFoundError
from prs_search.field_types import MAX_PAGE, TrialState
from prs_search.pareto import Cost, format_cost, trial_cost
from prs_search.schemas import Record, TrialRecord
from prs_search.store import ResultsStore, SearchRecord


class Budget(Record):
    """The compute budget an answer was chosen within: the limit, what the chosen trial cost, and what the
    best trial without the budget cost."""

    cost: Cost = Field(description="`flops`: training FLOPs counted over the epochs; `seconds`: training time.")
    limit: float = Field(description="The budget asked: a trial may have cost at most this much.")
    chosen_cost: float = Field(description="What the chosen trial cost.")
    best_cost: float | None = Field(
        description="What the best trial without a budget cost (None: not counted, it was trained before counting)."
    )
    best_val_acc: float = Field(description="The validation accuracy of the best trial without a budget.")
    candidates: int = Field(description="Complete trials whose cost is known: those the budget chose among.")
    uncounted: int = Field(description="Complete trials without a counted cost: not candidates.")


def asked_budget(max_flops: object, max_seconds: object) -> tuple[Cost, float] | None:
    """(cost, limit) of a budget asked with at most one of `max_flops` and `max_seconds`; None: no budget."""
    limits: tuple[tuple[Cost, object], ...] = (("flops", max_flops), ("seconds", max_seconds))
    asked = [(cost, value) for cost, value in limits if value is not None]
    if not asked:
        return None
    if len(asked) > 1:
        raise ConfigError("give at most one of max_flops and max_seconds for the compute budget")
    ((cost, value),) = asked
    if isinstance(value, bool) or not isinstance(value, int | float) or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"max_{cost} must be a positive finite number, got {value!r}")
    return cost, float(value)


def best_within(
    store: ResultsStore, dataset: str, num_samples: int, cost: Cost, limit: float
) -> tuple[SearchRecord, TrialRecord, Budget]:
    """The best complete trial of the searches of `dataset` at `num_samples` images that cost at most `limit`,
    its search, and the budget it was chosen within. None fits (or none has a count) -> `NotFoundError`."""
    searches = [s for s in store.list_searches(dataset=dataset, limit=MAX_PAGE)[0] if s.num_samples == num_samples]
    trials = [
        (s, t)
        for s in searches
        for t in store.all_trials(search_id=s.id, state=TrialState.COMPLETE)
        if t.val_acc is not None
    ]
    priced = [(s, t, c) for s, t in trials if (c := trial_cost(t, cost)) is not None]
    where = f"{dataset} at {num_samples} images"
    if not trials:
        raise NotFoundError(f"no trial of {where} has completed yet")
    if not priced:  # only FLOPs can be missing: every trial is timed
        raise NotFoundError(
            f"none of the {len(trials)} complete trials of {where} has counted FLOPs (they were trained before "
            "counting): ask with max_seconds, or search this size again"
        )
    within = [p for p in priced if p[2] <= limit]
    if not within:
        cheapest = min(c for _, _, c in priced)
        raise NotFoundError(
            f"no trial of {where} trained within max_{cost}={format_cost(cost, limit)}; the cheapest counted trial "
            f"cost {format_cost(cost, cheapest)}"
        )
    search, chosen, spent = min(within, key=lambda p: _best_first(p[1], p[2]))
    best = min((t for _, t in trials), key=lambda t: _best_first(t, trial_cost(t, cost)))
    budget = Budget(
        cost=cost, limit=limit, chosen_cost=spent, best_cost=trial_cost(best, cost), best_val_acc=best.val_acc or 0.0,
        candidates=len(priced), uncounted=len(trials) - len(priced),
    )  # fmt: skip
    return search, chosen, budget


def _best_first(trial: TrialRecord, cost: float | None) -> tuple[float, float, int]:
    """Highest validation accuracy first; ties: the cheaper (one without a count last), then the older."""
    return -(trial.val_acc or 0.0), math.inf if cost is None else cost, trial.id
