"""Every private attribute of Ray's `OptunaSearch` and of Optuna's trials that prs-search uses, in one place.

`PRSOptunaSearch` continues Optuna trials across driver restarts and tells Optuna the truth about pruned
and failed trials, which neither library's public API allows. For that it needs the searcher's study and
its map from Ray trials to Optuna trials (`OptunaSearch._ot_study`, `._ot_trials`, `Searcher
._completed_trials`), and to re-attach a stored trial by its storage id (`FrozenTrial._trial_id`).

Private names can change in any release: pyproject.toml keeps `ray[tune]` and `optuna` below versions
nobody has tried, and tests/search/test_optuna_adapter.py fails, naming the attribute, when an upgrade
breaks one of them. Nothing else in the project reaches into either library.
"""

from typing import cast

import optuna
from ray.tune.search.optuna import OptunaSearch


def study(searcher: OptunaSearch) -> optuna.Study:
    """The study the searcher asks and tells (set in its constructor when a space is given)."""
    found = searcher._ot_study
    if not isinstance(found, optuna.Study):
        raise RuntimeError("Ray's OptunaSearch has no study: was it built without a search space?")
    return found


def trials(searcher: OptunaSearch) -> dict[str, optuna.Trial]:
    """Ray trial id -> the Optuna trial it runs; the searcher reports to and tells the trials in it."""
    return cast(dict[str, optuna.Trial], searcher._ot_trials)


def completed(searcher: OptunaSearch) -> set[str]:
    """Ray trial ids whose Optuna trial the searcher has told (it must not tell them again)."""
    return cast(set[str], searcher._completed_trials)


def attach(to: optuna.Study, frozen: optuna.trial.FrozenTrial) -> optuna.Trial:
    """The live trial of a stored one, to report to and tell: the same row of the study, no new one
    (a `FrozenTrial` knows its storage id only privately)."""
    return optuna.trial.Trial(to, frozen._trial_id)
