"""`recommend` within a compute budget: the best complete trial of a searched size that fits it (ties to the
cheaper), what it and the unconstrained best cost, trials without a count left out, and the refusals."""

import math

import numpy as np
import pytest
from factories import LARGE, SMALL, Rows, true_accuracy

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


def test_an_unsearched_size_the_model_cannot_answer_is_refused(store: ResultsStore, searched: SearchRecord) -> None:
    with pytest.raises(ConfigError, match="at 9000 images, where nobody searched, needs the cross-size model"):
        recommend(store, "cifar100", num_samples=9000, max_flops=5 * TFLOP)


# A known compute truth: an epoch costs IMAGES x (BASE + PER_LAYER x attention layers) FLOPs.
BASE, PER_LAYER = 1e6, 2e6


def _counted(rows: Rows, store: ResultsStore, n: int, schedules: list[tuple[int, ...]], accs: list[float]) -> None:
    """A finished 10-epoch search at `n` images (a tenth held out), each epoch's FLOPs the truth's."""
    search = rows.search("cifar100", n, val_size=n // 10)
    images = (n - n // 10) // 32 * 32
    for schedule, acc in zip(schedules, accs, strict=True):
        flops = [images * (BASE + PER_LAYER * sum(e <= epoch for e in schedule)) for epoch in range(10)]
        rows.trial(search, list(schedule), [acc / 2] * 9 + [acc], flops=flops)
    store.update_best_schedule(search_id=search.id)
    store.set_search_status(search_id=search.id, status="finished")


def test_an_unsearched_size_is_answered_by_the_model_within_its_predicted_cost(store: ResultsStore, rows: Rows) -> None:
    """Between two searched sizes the cross-size model answers among the schedules whose cost there, predicted
    from the counted epochs, fits: the cost is the truth's, a loose budget changes nothing, an impossible one
    names the cheapest schedule's cost."""
    rng = np.random.default_rng(0)
    for n in (SMALL, LARGE):
        schedules = [tuple(sorted(map(int, rng.integers(0, 11, size=4)), reverse=True)) for _ in range(8)]
        _counted(rows, store, n, schedules, [true_accuracy(s, n) + rng.normal(0.0, 0.01) for s in schedules])
    n, images = 1000, 900 // 32 * 32

    def truth(schedule: tuple[int, ...]) -> float:
        return images * (BASE * 10 + PER_LAYER * sum(10 - e for e in schedule))

    free = recommend(store, "cifar100", num_samples=n)
    limit = 0.9 * truth(free.schedule)
    tight = recommend(store, "cifar100", num_samples=n, max_flops=limit)
    budget = tight.budget
    assert tight.method == "model" and budget is not None and budget.estimated
    assert budget.chosen_cost == pytest.approx(truth(tight.schedule), rel=1e-6) and budget.chosen_cost <= limit
    assert budget.best_cost == pytest.approx(truth(free.schedule), rel=1e-6) and budget.best_val_acc == free.val_acc
    assert tight.val_acc <= free.val_acc
    loose = recommend(store, "cifar100", num_samples=n, max_flops=2 * truth((0, 0, 0, 0)))
    assert loose.schedule == free.schedule
    cheapest = truth((10, 10, 10, 10))
    with pytest.raises(NotFoundError, match="the cheapest is predicted to cost"):
        recommend(store, "cifar100", num_samples=n, max_flops=0.5 * cheapest)


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
