"""Ray's OptunaSearch, made truthful and resumable.

* Optuna sees the truth: intermediate values per epoch, trials stopped by ASHA as PRUNED, errored or
  diverged ones as FAIL (Ray's class tells COMPLETE in both cases).
* Resumable without duplicates: a resumed search first hands the Optuna trials that were still running
  when the driver died back to Ray, with their parameters and last checkpoint, before asking Optuna
  for new ones; it never lets the study grow past the budget; and its sampler's seed moves on by the
  trials already stored, so its random start-up schedules are not drawn a second time.
* Patient with the database: every Optuna storage call is retried while the database is unreachable
  (a PostgreSQL restart), as the results store's writes are, instead of ending the whole search.

What it needs of Ray's and Optuna's private attributes goes through `optuna_adapter`.
"""

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import optuna
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from prs_search.search import optuna_adapter
from prs_search.search.outcome import METRIC, TIME_ATTR, trial_outcome
from prs_search.search.spaces import SearchSpace
from prs_search.search.trial_config import TrialConfig, trial_config
from prs_search.store.db import PATIENT_RETRIES, retry_transient

log = logging.getLogger(__name__)
# The trials charged to the budget: an enqueued `initial:` trial is WAITING until it is asked for, so it
# is not one yet (counted, a budget of 1 with one initial trial would stop before running anything).
_ASKED = tuple(state for state in optuna.trial.TrialState if state != optuna.trial.TrialState.WAITING)

T = TypeVar("T")
# Random search is the baseline TPE must beat (benchmarks/search_efficiency.py); both take a seed.
SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
}


@dataclass(frozen=True)
class Replay:
    """An Optuna trial left RUNNING by a driver that died, to be continued from its checkpoint."""

    number: int
    schedule: list[int]
    train: dict[str, Any]
    checkpoint: str | None


class PRSOptunaSearch(OptunaSearch):
    def __init__(
        self,
        space: SearchSpace,
        depth: int,
        epochs: int,
        budget: int,
        storage: optuna.storages.BaseStorage,
        study_name: str,
        seed: int,
        on_suggest: Callable[[str, TrialConfig], None],
        replay: list[Replay] | None = None,
        initial: list[dict[str, int]] | None = None,
        sampler: Literal["tpe", "random"] = "tpe",
    ) -> None:
        self._prs_space, self._depth, self._epochs, self._budget = space, depth, epochs, budget
        self._on_suggest = on_suggest
        self._replay = list(replay or [])
        super().__init__(
            space=self._define,
            metric=METRIC,
            mode="max",
            sampler=SAMPLERS[sampler](seed=_patient(lambda: _resumed_seed(storage, study_name, seed))),
            study_name=study_name,
            storage=storage,
        )
        if not self.study.get_trials(deepcopy=False):  # a fresh study: never enqueue twice on resume
            for params in (initial or [])[:budget]:  # more than the budget would stay WAITING in the study
                self.study.enqueue_trial(params, skip_if_exists=True)

    @property
    def study(self) -> optuna.Study:
        return optuna_adapter.study(self)

    # Ray's methods hand configs on as plain dicts, which a TrialConfig is at run time.
    def _define(self, trial: optuna.Trial) -> dict[str, Any]:
        drawn = self._prs_space.sample(trial, self._depth, self._epochs)
        return dict(TrialConfig(optuna_number=trial.number, schedule=drawn["schedule"], train=drawn["train"]))

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config: TrialConfig | None
        if self._replay:
            config = self._attach(trial_id, self._replay.pop(0))
        elif _patient(lambda: len(self.study.get_trials(deepcopy=False, states=_ASKED))) >= self._budget:
            return Searcher.FINISHED  # type: ignore[return-value]  # Ray's sentinel, a str
        else:
            config = _patient(lambda: self._ask(trial_id))
        if config is None:
            return None
        self._on_suggest(trial_id, config)
        return dict(config)

    def _ask(self, trial_id: str) -> TrialConfig | None:
        # Optuna's ask() commits the new trial before it reads it back: when the database went away in
        # between, the trial exists, RUNNING and known to no Ray trial. Adopt it instead of asking for
        # another, or the study would hold a trial that never runs and count it against the budget.
        attached = optuna_adapter.trials(self)
        known = {t.number for t in attached.values()} | {r.number for r in self._replay}
        running = self.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        orphan = next((t for t in running if t.number not in known), None)
        if orphan is not None and trial_id not in attached:
            log.info("adopting Optuna trial %d, asked before the database connection was lost", orphan.number)
            attached[trial_id] = optuna_adapter.attach(self.study, orphan)
        config = super().suggest(trial_id)
        return None if config is None else trial_config(config)

    def _attach(self, trial_id: str, replay: Replay) -> TrialConfig:
        frozen = _patient(lambda: self.study.get_trials(deepcopy=False))[replay.number]
        optuna_adapter.trials(self)[trial_id] = optuna_adapter.attach(self.study, frozen)
        log.info("continuing Optuna trial %d as Ray trial %s", replay.number, trial_id)
        return TrialConfig(
            optuna_number=replay.number, schedule=replay.schedule, train=replay.train, resume_from=replay.checkpoint
        )

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        ot_trial = self._open_trial(trial_id)
        if ot_trial is not None:
            _patient(lambda: _report(ot_trial, result))

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        ot_trial = self._open_trial(trial_id)
        if ot_trial is None:
            return
        outcome = trial_outcome(result, error, self._epochs)
        state = optuna.trial.TrialState[outcome.state]
        value = outcome.value if state == optuna.trial.TrialState.COMPLETE else None
        try:
            if result and not error:
                # Ray hands the result on which the scheduler stops a trial (ASHA at a rung, or at max_t)
                # to on_trial_complete only, never to on_trial_result: else Optuna misses the last epoch.
                _patient(lambda: _report(ot_trial, result))
            _patient(lambda: self.study.tell(ot_trial, value, state=state))
        except RuntimeError as err:  # already finished: before a resume, or by a try cut off before its answer
            log.info("Optuna trial %d was already finished: %s", ot_trial.number, err)
        optuna_adapter.completed(self).add(trial_id)

    def _open_trial(self, trial_id: str) -> optuna.Trial | None:
        """The Optuna trial a Ray trial runs, unless it is unknown or already told."""
        if trial_id in optuna_adapter.completed(self):
            return None
        return optuna_adapter.trials(self).get(trial_id)


def _resumed_seed(storage: optuna.storages.BaseStorage, study_name: str, seed: int) -> int:
    """The sampler's seed: the search's own for a new study, moved on by the trials already in it for a
    resumed one. A sampler seeded as before would draw its random start-up schedules again, so a resumed
    search would spend its budget repeating the trials it already has; this one stays reproducible."""
    try:
        study_id = storage.get_study_id_from_name(study_name)
    except KeyError:  # no such study yet
        return seed
    return seed + len(storage.get_all_trials(study_id, deepcopy=False))


def _patient(call: Callable[[], T]) -> T:
    return retry_transient(call, retries=PATIENT_RETRIES)


def _report(ot_trial: optuna.Trial, result: dict[str, Any]) -> None:
    """One epoch's validation accuracy as the Optuna trial's intermediate value at step `epochs_done`."""
    if result.get("status") == "diverged" or METRIC not in result or TIME_ATTR not in result:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Optuna's "step already reported": a repeat is harmless
        ot_trial.report(float(result[METRIC]), int(result[TIME_ATTR]))
