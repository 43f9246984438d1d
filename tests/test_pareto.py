"""The accuracy-compute front on hand-made trials: domination, ties, trials without a count, other states."""

from datetime import UTC, datetime

import pytest

from prs_search.pareto import accuracy_cost_front
from prs_search.schemas import TrialPublic

_ids = iter(range(1, 1000))


def trial(val_acc: float | None, flops: float | None, seconds: float = 10.0, state: str = "COMPLETE") -> TrialPublic:
    number = next(_ids)
    return TrialPublic(
        id=number, search_id=1, trial_key=str(number), optuna_number=number, schedule=(2, 1, 0), params={},
        state=state, val_acc=val_acc, best_val_acc=val_acc, epochs_run=2, seconds=seconds, flops=flops,
        started_at=datetime.now(UTC), finished_at=None, error=None,
    )  # fmt: skip


def test_the_front_is_the_undominated_trials_cheapest_first() -> None:
    cheap, middle, dear = trial(0.50, 1e12), trial(0.60, 2e12), trial(0.70, 4e12)
    dominated = [trial(0.55, 3e12), trial(0.50, 1.5e12), trial(0.69, 4e12), trial(0.40, 5e12)]
    front = accuracy_cost_front([dear, *dominated, middle, cheap], "flops")
    assert front.trials == (cheap, middle, dear)
    assert (front.cost, front.considered, front.uncounted) == ("flops", 7, 0)


def test_ties_equal_in_both_are_all_on_the_front_and_equal_accuracy_goes_to_the_cheaper() -> None:
    a, b = trial(0.6, 2e12), trial(0.6, 2e12)
    same_accuracy_dearer = trial(0.6, 3e12)
    same_cost_worse = trial(0.5, 2e12)
    front = accuracy_cost_front([same_accuracy_dearer, b, same_cost_worse, a], "flops")
    assert front.trials == (a, b)


def test_trials_without_a_count_and_unfinished_trials_are_not_candidates() -> None:
    best_but_uncounted = trial(0.9, None)
    counted = trial(0.5, 1e12)
    others = [trial(0.95, 1e11, state="PRUNED"), trial(0.99, 1e10, state="RUNNING"), trial(None, 1e9)]
    front = accuracy_cost_front([best_but_uncounted, counted, *others], "flops")
    assert front.trials == (counted,)
    assert (front.considered, front.uncounted) == (2, 1)
    empty = accuracy_cost_front([best_but_uncounted], "flops")
    assert (empty.trials, empty.considered, empty.uncounted) == ((), 1, 1)


@pytest.mark.parametrize("cost", ["flops", "seconds"])
def test_the_cost_chooses_the_axis(cost: str) -> None:
    fast_but_many_flops, slow_but_few_flops = trial(0.7, 9e12, seconds=5.0), trial(0.6, 1e12, seconds=50.0)
    front = accuracy_cost_front([fast_but_many_flops, slow_but_few_flops], cost)  # type: ignore[arg-type]
    expected = (fast_but_many_flops,) if cost == "seconds" else (slow_but_few_flops, fast_but_many_flops)
    assert front.trials == expected
    assert front.uncounted == 0
