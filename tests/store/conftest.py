"""Fixtures for the results-store tests: every backend (SQLite file, PostgreSQL) behind the one `store` of
tests/conftest.py, and factories of searches and trials.

PostgreSQL: the session's `postgres_db` (tests/conftest.py); every test starts from an empty schema in it.
"""

from collections.abc import Callable
from typing import Any

import pytest

from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore, SearchRecord


@pytest.fixture
def store_url(empty_url: str) -> str:
    """Every store test runs on every backend."""
    return empty_url


SEARCH_DEFAULTS: dict[str, Any] = {
    "dataset": "cifar100",
    "num_samples": 5000,
    "fraction": 0.1,
    "space": "free",
    "space_config": {"name": "free", "layers": 4, "epochs": 10},
    "budget": 20,
    "epochs": 10,
    "model": "tiny",
    "model_config": {"depth": 4, "dim": 64},
    "stem": "conv",
    "seed": 0,
}


@pytest.fixture
def new_search(store: ResultsStore) -> Callable[..., SearchRecord]:
    """Factory: `new_search("name", dataset=..., ...)` with sensible defaults."""

    def make(name: str = "search-1", **overrides: Any) -> SearchRecord:
        fields = {**SEARCH_DEFAULTS, "study_name": f"study-{name}", **overrides}
        return store.create_search(NewSearch(name=name, **fields))

    return make


@pytest.fixture
def run_trial(store: ResultsStore) -> Callable[..., int]:
    """Factory: start a trial, report `accs` (one per epoch, `seconds` each), finish it; returns its id."""

    def run(
        search_id: int,
        key: str,
        accs: list[float],
        *,
        state: str = "COMPLETE",
        seconds: float = 1.0,
        schedule: tuple[int, ...] = (4, 3, 2, 1),
    ) -> int:
        trial = store.start_trial(
            search_id=search_id, trial_key=key, schedule=list(schedule), params={"e": list(schedule)}
        )
        for epoch, acc in enumerate(accs):
            store.record_epoch(
                search_id=search_id, trial_key=key, epoch=epoch, metrics={"val_acc": acc, "seconds": seconds}
            )
        if state != "RUNNING":
            store.finish_trial(search_id=search_id, trial_key=key, state=state)
        return trial.id

    return run
