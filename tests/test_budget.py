"""`recommend` within a compute budget: the best complete trial of a searched size that fits it (ties to the
cheaper), what it and the unconstrained best cost, trials without a count left out, and the refusals."""

import math

import pytest
from factories import Rows

from prs_search.errors import ConfigError, NotFoundError
from prs_search.recommend import recommend
from prs_search.store import ResultsStore, SearchRecord

TFLOP = 1e12


@pytest.fixture
def searched(store: ResultsStore, rows: Rows) -> SearchRecord:
    """cifar100 searched at 5000 images (and 20000); its trials ran two epochs each, FLOPs and seconds per epoch."""
    search = rows.search("cifar100", 5000, epochs=2)
    rows.trial(search, [2, 2, 2, 2], [0.3, 0.4], flops=1 * TFLOP, seconds=20.0)  # 2 TFLOP, 40 s
    rows.trial(search, [1, 1, 1, 1], [0.4, 0.5], flops=2 * TFLOP, seconds=10.0)  # 4 TFLOP, 20 s
    rows.trial(search, [1, 1, 0, 0], [0.4, 0.5], flops=2.5 * TFLOP, seconds=5.0)  # as good, dearer in FLOPs
    rows.trial(search, [0, 0, 0, 0], [0.5, 0.6], flops=3 * TFLOP, seconds=30.0)  # 6 TFLOP, 60 s
    rows.trial(search, [0, 0, 0, 1], [0.7, 0.8])  # the best, trained before counting (1 s)
    rows.trial(search, [0, 1, 1, 1], [0.95], state="PRUNED", flops=0.1 * TFLOP)  # not complete
    store.update_best_schedule(search_id=search.id)
    store.set_search_status(search_id=search.id, status="finished")
    rows.finished("cifar100", 20000, [1, 1, 0, 0], 0.7)
    return search


def test_the_best_trial_within_the_budget_ties_to_the_cheaper(store: ResultsStore, searched: SearchRecord) -> None:
    answer = recommend(store, "cifar100", num_samples=5000, max_flops=5 * TFLOP)
    assert (answer.method, answer.schedule, answer.val_acc) == ("exact", (1, 1, 1, 1), 0.5)
    assert answer.confidence is None and answer.test_acc is None and answer.warning is None
    (source,) = answer.provenance
    assert (source.search_id, source.num_samples, source.val_acc, source.weight) == (searched.id, 5000, 0.5, 1.0)
    budget = answer.budget
    assert budget is not None
    assert (budget.cost, budget.limit, budget.chosen_cost) == ("flops", 5 * TFLOP, 4 * TFLOP)
    # The best without a budget was never counted; it and the pruned trial are no candidates.
    assert (budget.best_cost, budget.best_val_acc, budget.candidates, budget.uncounted) == (None, 0.8, 4, 1)

    roomy = recommend(store, "cifar100", num_samples=5000, max_flops=100 * TFLOP)
    assert roomy.schedule == (0, 0, 0, 0) and roomy.budget is not None and roomy.budget.chosen_cost == 6 * TFLOP
    assert recommend(store, "cifar100", num_samples=5000).budget is None  # none asked: the usual answer


def test_a_budget_in_seconds_counts_every_complete_trial(store: ResultsStore, searched: SearchRecord) -> None:
    answer = recommend(store, "cifar100", num_samples=5000, max_seconds=25.0)
    assert answer.schedule == (0, 0, 0, 1)  # 1 s: the best trial, and timed like every other
    assert answer.budget is not None
    assert (answer.budget.chosen_cost, answer.budget.best_cost, answer.budget.uncounted) == (1.0, 1.0, 0)


def test_every_search_at_the_size_is_a_candidate(store: ResultsStore, rows: Rows, searched: SearchRecord) -> None:
    other = rows.search("cifar100", 5000, epochs=2)
    better = rows.trial(other, [2, 1, 1, 0], [0.6, 0.65], flops=1.5 * TFLOP)
    answer = recommend(store, "cifar100", num_samples=5000, max_flops=5 * TFLOP)
    assert answer.schedule == (2, 1, 1, 0) and answer.provenance[0].trial_id == better.id
    assert answer.provenance[0].search_id == other.id and answer.trials_backing == 1  # the trials of its search


def test_nothing_within_the_budget_says_what_the_cheapest_cost(store: ResultsStore, searched: SearchRecord) -> None:
    with pytest.raises(NotFoundError) as caught:
        recommend(store, "cifar100", num_samples=5000, max_flops=1 * TFLOP)
    assert str(caught.value) == (
        "no trial of cifar100 at 5000 images trained within max_flops=1 TFLOP; the cheapest counted trial cost 2 TFLOP"
    )
    with pytest.raises(NotFoundError, match="max_seconds=0.5 s; the cheapest counted trial cost 1.0 s"):
        recommend(store, "cifar100", num_samples=5000, max_seconds=0.5)


def test_a_size_whose_trials_have_no_count_cannot_answer_a_flops_budget(store: ResultsStore, rows: Rows) -> None:
    rows.finished("digits", 1000, [2, 1, 0, 0], 0.9)
    with pytest.raises(NotFoundError, match="none of the 1 complete trials of digits at 1000 images has counted F"):
        recommend(store, "digits", num_samples=1000, max_flops=1e20)


def test_a_size_that_was_not_searched_is_refused_for_now(store: ResultsStore, searched: SearchRecord) -> None:
    with pytest.raises(ConfigError, match="searched size only .*: cifar100 was searched at 5000, 20000 images, not 9"):
        recommend(store, "cifar100", num_samples=9000, max_flops=5 * TFLOP)


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_flops": 1.0, "max_seconds": 1.0}, "at most one of max_flops and max_seconds"),
        ({"max_flops": 0.0}, "max_flops must be a positive finite number, got 0.0"),
        ({"max_seconds": -5}, "max_seconds must be a positive finite number, got -5"),
        ({"max_flops": math.inf}, "got inf"),
        ({"max_seconds": math.nan}, "got nan"),
        ({"max_flops": True}, "got True"),
    ],
)
def test_invalid_budgets(store: ResultsStore, searched: SearchRecord, limits: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        recommend(store, "cifar100", num_samples=5000, **limits)
