"""The private attributes of Ray's OptunaSearch and of Optuna's trials that the searcher relies on
(`prs_search.search.optuna_adapter`) are still there and still mean what they meant. When a Ray or Optuna
upgrade breaks one, this fails and names it: update the adapter, then raise the bound in pyproject.toml."""

from pathlib import Path
from typing import Any

import optuna
import pytest
import ray
from ray.tune.search.optuna import OptunaSearch

from prs_search.search import optuna_adapter

VERSIONS = f"ray {ray.__version__}, optuna {optuna.__version__}"


def broken(what: str) -> str:
    return f"{VERSIONS}: {what} changed; prs_search/search/optuna_adapter.py needs updating for this version"


@pytest.fixture
def searcher(tmp_path: Path) -> OptunaSearch:
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def space(trial: optuna.Trial) -> dict[str, Any]:
        return {"x": trial.suggest_int("x", 0, 3)}

    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    return OptunaSearch(
        space=space, metric="val_acc", mode="max", study_name="adapter", storage=storage,
        sampler=optuna.samplers.TPESampler(seed=0),
    )  # fmt: skip


def test_the_searchers_study_and_trial_map(searcher: OptunaSearch) -> None:
    study = optuna_adapter.study(searcher)
    assert isinstance(study, optuna.Study), broken("OptunaSearch._ot_study")
    config = searcher.suggest("ray-1")
    assert config is not None and 0 <= config["x"] <= 3
    attached = optuna_adapter.trials(searcher)
    assert isinstance(attached, dict) and set(attached) == {"ray-1"}, broken("OptunaSearch._ot_trials")
    assert isinstance(attached["ray-1"], optuna.Trial), broken("OptunaSearch._ot_trials' values")
    assert attached["ray-1"].number == study.get_trials(deepcopy=False)[0].number

    assert optuna_adapter.completed(searcher) == set(), broken("Searcher._completed_trials")
    searcher.on_trial_complete("ray-1", {"val_acc": 0.5, "training_iteration": 1})
    assert optuna_adapter.completed(searcher) == {"ray-1"}, broken("Searcher._completed_trials")
    (told,) = study.get_trials(deepcopy=False)
    assert (told.state, told.value) == (optuna.trial.TrialState.COMPLETE, 0.5)


def test_a_stored_trial_reattaches_as_the_same_row(searcher: OptunaSearch) -> None:
    """What a resumed search does with a trial its dead driver left running: report and tell it again,
    without a new trial in the study."""
    study = optuna_adapter.study(searcher)
    study.ask()  # RUNNING, as a dead driver leaves it
    (frozen,) = study.get_trials(deepcopy=False)
    assert isinstance(getattr(frozen, "_trial_id", None), int), broken("FrozenTrial._trial_id")

    live = optuna_adapter.attach(study, frozen)
    live.report(0.25, step=1)
    study.tell(live, 0.75)

    (trial,) = study.get_trials(deepcopy=False)
    assert trial.number == frozen.number, broken("optuna.trial.Trial(study, trial_id)")
    assert (trial.state, trial.value, trial.intermediate_values) == (optuna.trial.TrialState.COMPLETE, 0.75, {1: 0.25})
