"""What `PRSOptunaSearch` charges to the budget, on a real Optuna study (SQLite), without Ray: the
space's `initial` schedules are run as part of the budget, never counted before they are asked for."""

from pathlib import Path

import optuna
from ray.tune.search import Searcher

from prs_search.schedule import Schedule
from prs_search.search.searcher import PRSOptunaSearch
from prs_search.search.spaces import load_space

from .helpers import TINY_DEPTH

EPOCHS = 3


def searcher(tmp_path: Path, budget: int, initial: list[dict[str, int]]) -> PRSOptunaSearch:
    return PRSOptunaSearch(
        load_space("monotone"), TINY_DEPTH, epochs=EPOCHS, budget=budget,
        storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}"), study_name="budget", seed=0,
        on_suggest=lambda trial_id, config: None, initial=initial,
    )  # fmt: skip


def test_a_budget_of_one_runs_the_initial_schedule(tmp_path: Path) -> None:
    initial = load_space("monotone").initial_params(TINY_DEPTH, EPOCHS)
    alg = searcher(tmp_path, budget=1, initial=initial)
    first = alg.suggest("ray-trial-1")
    assert first is not None and first != Searcher.FINISHED
    assert tuple(first["schedule"]) == Schedule.prs(TINY_DEPTH, EPOCHS).switch_epochs
    assert alg.suggest("ray-trial-2") == Searcher.FINISHED
    assert len(alg.study.trials) == 1


def test_initial_schedules_beyond_the_budget_are_not_left_waiting(tmp_path: Path) -> None:
    space = load_space("monotone")
    initial = [space.initial_params(TINY_DEPTH, EPOCHS)[0], {f"e{i}": 0 for i in range(TINY_DEPTH)}]
    alg = searcher(tmp_path, budget=1, initial=initial)
    assert alg.suggest("ray-trial-1") is not None
    assert [t.state for t in alg.study.trials] == [optuna.trial.TrialState.RUNNING]  # no WAITING second one


def test_a_resumed_search_does_not_repeat_its_start_up_schedules(tmp_path: Path) -> None:
    """A new searcher on a study that has trials (a resume) must not draw the first searcher's random
    start-up schedules again: that spent a real CIFAR-10 search's budget on four duplicates."""

    def schedules(alg: PRSOptunaSearch, prefix: str) -> list[tuple[int, ...]]:
        drawn = []
        for i in range(4):
            config = alg.suggest(f"{prefix}{i}")
            assert config is not None and config != Searcher.FINISHED
            drawn.append(tuple(config["schedule"]))
            alg.on_trial_complete(f"{prefix}{i}", {"val_acc": 0.1 * i, "epochs_done": 50})
        return drawn

    def fresh() -> PRSOptunaSearch:
        return PRSOptunaSearch(
            load_space("monotone"), TINY_DEPTH, epochs=50, budget=16,
            storage=optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}"), study_name="resumed",
            seed=0, on_suggest=lambda trial_id, config: None, initial=[],
        )  # fmt: skip

    before = schedules(fresh(), "first-")
    after = schedules(fresh(), "resumed-")
    assert not set(before) & set(after)
    assert len(fresh().study.trials) == 8
