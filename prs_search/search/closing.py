"""A search's Optuna storage, and closing the trials a cancelled search left running.

Used by the driver that stops a search on request and by the API when it cancels a search no driver is
running (its driver died): either way the search is never resumed, so nothing would finish its RUNNING
trials, and the API and optuna-dashboard would show them live for good.
"""

import optuna

from prs_search.field_types import MAX_PAGE, TrialState
from prs_search.store import ResultsStore, SearchRecord


def optuna_storage(store: ResultsStore) -> optuna.storages.RDBStorage:
    """The Optuna storage in the project's own database (its tables beside ours)."""
    return optuna.storages.RDBStorage(store.url, engine_kwargs=store.optuna_engine_kwargs())


def close_running_trials(store: ResultsStore, search: SearchRecord, why: str) -> None:
    """The trials stopped half-way, FAIL in the store and in the Optuna study. FAIL, not PRUNED: no pruner
    judged them, and TPE learns nothing from them. (An interrupted search keeps them RUNNING, to continue.)"""
    rows, _ = store.list_trials(search_id=search.id, state=TrialState.RUNNING, limit=MAX_PAGE)
    for row in rows:
        store.finish_trial(search_id=search.id, trial_key=row.trial_key, state=TrialState.FAIL, error=why)
    try:
        study = optuna.load_study(study_name=search.study_name, storage=optuna_storage(store))
    except KeyError:  # stopped before the searcher created the study
        return
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
