"""The best schedule within a compute budget (`prs-search recommend --max-flops/--max-seconds`,
GET /v1/recommendation's `max_flops` / `max_seconds`).

- At a searched size: the COMPLETE trials of every search of the dataset at that size whose cost is known:
  `flops`, the training FLOPs counted over their epochs (trials trained before counting have none and are
  not candidates; the answer says how many), or `seconds`, their training time. The chosen one has the
  highest final validation accuracy within the budget; ties go to the cheaper, then to the older trial.
- At a size nobody searched, where the cross-size model answers: the space's schedules whose cost at that
  size, predicted by `prs_search.compute_cost` fitted on the group's counted epochs, is within the budget;
  the chosen one has the highest expected accuracy (`estimated` costs, said so in the answer).
No SQL here.
"""

import math
import sys
from dataclasses import replace

from pydantic import Field

from prs_search.compute_cost import CostModel, epoch_counts, fit_cost_model, images_per_epoch
from prs_search.errors import ConfigError, NotFoundError
from prs_search.field_types import MAX_PAGE, Cost, TrialState
from prs_search.pareto import format_cost, trial_cost
from prs_search.recipe import TrainConfig
from prs_search.schemas import Record, TrialRecord
from prs_search.store import ResultsStore, SearchRecord
from prs_search.surrogate import CrossSizeAnswer, Group, predict_best

EVERY_CANDIDATE = sys.maxsize  # rank them all


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
    candidates: int = Field(
        description="Complete trials whose cost is known (or schedules within the budget, "
        "when estimated): those the answer chose among."
    )
    uncounted: int = Field(description="Complete trials without a counted cost: not candidates.")
    estimated: bool = Field(
        default=False,
        description="True: a size nobody trained at; the costs are predicted from the group's counted epochs and "
        "the accuracies are the cross-size model's.",
    )


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


def modelled_within(
    store: ResultsStore, group: Group, num_samples: int, cost: Cost, limit: float
) -> tuple[CrossSizeAnswer, Budget]:
    """The cross-size model's best schedule at `num_samples` among those whose predicted cost is within `limit`
    (the group must answer there: `why_not`). None fits -> `NotFoundError` with the cheapest predicted cost."""
    model, images, epochs = group_cost_model(store, group, cost), _images_at(group, num_samples), group.key.epochs

    def price(schedule: tuple[int, ...]) -> float:
        return model.predict(schedule, epochs, images)

    ranked = predict_best(group, num_samples, EVERY_CANDIDATE)  # one fit: the best with and without the budget
    within = [p for p in ranked.top if price(p.schedule) <= limit]
    if not within:
        # The cost is linear in attention-layer epochs: all-convolution or all-attention is the cheapest.
        cheapest = min(price((0,) * group.key.depth), price((epochs,) * group.key.depth))
        raise NotFoundError(
            f"no schedule of the space is predicted to train {num_samples} images within "
            f"max_{cost}={format_cost(cost, limit)}; the cheapest is predicted to cost {format_cost(cost, cheapest)}"
        )
    best, answer = ranked.top[0], replace(ranked, top=(within[0],), candidates=len(within))
    budget = Budget(
        cost=cost, limit=limit, chosen_cost=price(within[0].schedule), best_cost=price(best.schedule),
        best_val_acc=best.val_acc, candidates=len(within), uncounted=0, estimated=True,
    )  # fmt: skip
    return answer, budget


def group_cost_model(store: ResultsStore, group: Group, cost: Cost) -> CostModel:
    """The cost model fitted on every counted epoch of the group's complete trials."""
    counts = [
        count
        for search in group.searches
        if (images := _trained_images(search)) is not None
        for trial in store.all_trials(search_id=search.id, state=TrialState.COMPLETE)
        for count in epoch_counts(store.epoch_metrics(trial_id=trial.id), images, cost)
    ]
    try:
        return fit_cost_model(counts)
    except ConfigError as err:
        raise ConfigError(f"cannot predict the {cost} of a schedule at an unsearched size: {err}") from None


def _trained_images(search: SearchRecord) -> int | None:
    """Images a training epoch of the search trained on (None: its validation size was not recorded)."""
    if search.val_size is None:
        return None
    return images_per_epoch(search.num_samples - search.val_size, _batch_size(search))


def _images_at(group: Group, num_samples: int) -> int:
    """Images an epoch would train on at `num_samples`: the validation share of the group's searches held out
    as they did (the share of the one nearest in size), in whole batches."""
    known = [s for s in group.searches if s.val_size is not None]
    if not known:
        raise ConfigError("the searches of this group recorded no validation size: their training images are unknown")
    near = min(known, key=lambda s: abs(math.log(s.num_samples / num_samples)))
    train_share = 1.0 - (near.val_size or 0) / near.num_samples
    return images_per_epoch(round(num_samples * train_share), _batch_size(near))


def _batch_size(search: SearchRecord) -> int:
    train = search.space_config.get("train", {})
    return int(train.get("batch_size", TrainConfig.batch_size)) if isinstance(train, dict) else TrainConfig.batch_size


def _best_first(trial: TrialRecord, cost: float | None) -> tuple[float, float, int]:
    """Highest validation accuracy first; ties: the cheaper (one without a count last), then the older."""
    return -(trial.val_acc or 0.0), math.inf if cost is None else cost, trial.id
