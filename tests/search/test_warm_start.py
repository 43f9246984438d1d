"""Warm start: a new search first runs the cross-size model's best schedules for its size, fitted on the
dataset's other searched sizes; off when nothing else was searched, an error when asked for and impossible."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import Rows

from prs_search.errors import ConfigError
from prs_search.search import SearchJob, cluster, run_search
from prs_search.search.plan import make_plan
from prs_search.search.warm_start import MIN_APART, apart, warm_count, warm_start
from prs_search.store import ResultsStore
from prs_search.surrogate import Predicted

from .helpers import tiny_request

EPOCHS = 2
BEST = (2, 2, 1, 0)  # the best schedule at every size, in the other sizes' runs


@pytest.fixture(scope="module", autouse=True)
def _ray() -> Iterator[None]:
    yield
    cluster.shutdown()


def other_sizes(rows: Rows) -> None:
    """Searches at 300 and 1,200 images of digits, 8 finished 2-epoch trials each, best at `BEST`."""
    schedules = [(2, 2, 1, 0), (2, 2, 2, 2), (0, 0, 0, 0), (1, 1, 1, 1), (2, 1, 0, 0), (2, 2, 2, 0), (1, 0, 0, 0),
                 (2, 1, 1, 1)]  # fmt: skip
    for n, level in ((300, 0.6), (1200, 0.8)):
        accs = [level - 0.05 * sum(abs(a - b) for a, b in zip(s, BEST, strict=True)) for s in schedules]
        rows.searched("digits", n, schedules, accs, epochs=EPOCHS)


def request(tmp: Path, url: str, **overrides: Any) -> SearchJob:
    """A 5-trial search of 600 digits in the monotone space, 2 epochs, one trial at a time."""
    fields = {"num_samples": 600, "fraction": None, "space": "monotone", "epochs": EPOCHS, "max_concurrent": 1}
    return tiny_request(tmp, url, budget=5, name="warm", **{**fields, **overrides})


def test_a_quarter_of_the_budget_rounded_up_at_most_three() -> None:
    assert [warm_count(b) for b in (1, 4, 5, 8, 9, 12, 200)] == [1, 1, 2, 2, 3, 3, 3]


def test_the_enqueued_schedules_are_the_best_that_lie_apart() -> None:
    ranked = [Predicted(s, acc, acc - 0.1, acc + 0.1) for s, acc in (
        ((8, 5, 4, 2), 0.72), ((9, 5, 4, 2), 0.72), ((8, 6, 4, 2), 0.71), ((5, 3, 2, 0), 0.70), ((10, 9, 9, 9), 0.6),
        ((5, 3, 2, 1), 0.5),
    )]  # fmt: skip
    chosen = [p.schedule for p in apart(ranked, 3, 5)]
    assert chosen == [(8, 5, 4, 2), (5, 3, 2, 0), (10, 9, 9, 9)]  # 9,5,4,2 and 8,6,4,2 are 1 epoch from the first
    assert [p.schedule for p in apart(ranked, 2, 0)] == [(8, 5, 4, 2), (9, 5, 4, 2)]  # no distance: the top two


def test_off_by_default_when_nothing_else_was_searched(tmp_path: Path, store: ResultsStore) -> None:
    plan = make_plan(request(tmp_path, store.url))
    assert warm_start(store, plan) is None
    with pytest.raises(ConfigError, match="cannot warm-start: no other size of digits was searched"):
        warm_start(store, make_plan(request(tmp_path, store.url, warm_start=True)))


def test_the_first_trials_are_the_models_best_schedules(tmp_path: Path, store: ResultsStore, rows: Rows) -> None:
    other_sizes(rows)
    assert warm_start(store, make_plan(request(tmp_path, store.url, warm_start=False))) is None

    summary = run_search(request(tmp_path, store.url))

    warm = summary.search.warm_started
    assert warm is not None and len(warm.schedules) == warm_count(5) == 2 and len(set(warm.schedules)) == 2
    assert warm.schedules[0] == BEST and warm.sizes == (300, 1200) and warm.runs == 16
    assert sum(abs(a - b) for a, b in zip(*warm.schedules, strict=True)) >= MIN_APART * EPOCHS
    trials, _ = store.list_trials(search_id=summary.search.id)
    by_number = {t.optuna_number: t.schedule for t in trials}
    assert [by_number[0], by_number[1]] == list(warm.schedules)  # then the space's initial: prs
    assert len(trials) == 5
