"""An Optuna trial that was asked but never recorded in SQL, because the database connection dropped
inside ask() or the driver died inside suggest(): nothing ran for it, and it is neither lost nor charged
to the budget; the next suggestion adopts it. Real Optuna, SQLite, no Ray."""

from pathlib import Path

import optuna
from ray.tune.search import Searcher
from search.helpers import TINY_DEPTH

from prs_search.schemas import NewSearch
from prs_search.search.driver import _unfinished
from prs_search.search.searcher import PRSOptunaSearch, Replay
from prs_search.search.spaces import load_space
from prs_search.store import ResultsStore


def searcher(
    storage: optuna.storages.BaseStorage, name: str, budget: int, replay: list[Replay] | None = None
) -> PRSOptunaSearch:
    return PRSOptunaSearch(
        load_space("monotone"), TINY_DEPTH, epochs=3, budget=budget, storage=storage, study_name=name, seed=0,
        on_suggest=lambda trial_id, config: None, replay=replay,
    )  # fmt: skip


def test_a_trial_asked_but_never_handed_to_ray_is_adopted(tmp_path: Path) -> None:
    alg = searcher(optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}"), "adopt", budget=2)
    orphan = alg.study.ask()  # committed, known to no Ray trial: what a cut-off ask() leaves
    first = alg.suggest("ray-trial-1")
    assert first is not None and first["optuna_number"] == orphan.number
    assert len(first["schedule"]) == TINY_DEPTH
    second = alg.suggest("ray-trial-2")
    assert second is not None and second["optuna_number"] == orphan.number + 1
    assert alg.suggest("ray-trial-3") == Searcher.FINISHED
    assert len(alg.study.trials) == 2


def test_resume_leaves_an_unrecorded_trial_for_adoption(tmp_path: Path) -> None:
    """The driver died after Optuna's ask() and before the trial's row: resuming continues the recorded
    trial, counts the finished one, and keeps the unrecorded one RUNNING for the searcher to adopt."""
    url = f"sqlite:///{tmp_path / 'prs.db'}"
    store = ResultsStore(url)
    search = store.create_search(NewSearch(
        name="died-in-suggest", dataset="digits", num_samples=100, fraction=None, space="monotone", space_config={},
        budget=4, epochs=3, model="tiny", model_config={}, stem="conv", seed=0, study_name="prs-died-in-suggest",
    ))  # fmt: skip
    store.set_search_status(search_id=search.id, status="running")
    storage = optuna.storages.RDBStorage(url)
    alg = searcher(storage, "prs-died-in-suggest", budget=4)
    done, running = alg.study.ask(), alg.study.ask()
    for trial in (done, running):
        store.start_trial(
            search_id=search.id, trial_key=str(trial.number), schedule=[3, 2, 1, 0], params={},
            optuna_number=trial.number,
        )  # fmt: skip
    alg.study.tell(done, 0.5)
    orphan = alg.study.ask()  # no row: the driver was killed here

    replay, finished = _unfinished(store, store.get_search(name_or_id=search.id) or search)
    assert finished == 1
    assert [r.number for r in replay] == [running.number]
    assert alg.study.trials[orphan.number].state == optuna.trial.TrialState.RUNNING
    resumed = searcher(storage, "prs-died-in-suggest", budget=4, replay=replay)  # as the driver builds it
    numbers = [resumed.suggest(f"t{i}")["optuna_number"] for i in range(2)]  # type: ignore[index]
    assert numbers == [running.number, orphan.number]
    store.dispose()
