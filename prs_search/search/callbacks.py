"""Ray Tune callbacks on the driver: every result goes to SQL as it arrives, progress goes to the CLI."""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ray.tune import Callback
from ray.tune.experiment import Trial

from prs_search.field_types import TrialState
from prs_search.search.outcome import trial_outcome
from prs_search.search.trainable import NODE_ID
from prs_search.search.trial_config import TrialConfig, trial_config
from prs_search.store import ResultsStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchProgress:
    budget: int
    finished: int
    running: int
    pruned: int
    failed: int
    best_val_acc: float | None
    best_schedule: list[int] | None
    elapsed: float
    finished_this_run: int

    @property
    def eta(self) -> float | None:
        """Seconds left, extrapolated from the trials finished by this driver run."""
        if self.finished_this_run <= 0:
            return None
        return self.elapsed / self.finished_this_run * (self.budget - self.finished)


def trial_key(trial: Trial) -> str:
    """Our key for a Ray trial: its Optuna trial number, stable when a resumed search continues it."""
    return str(trial_config(trial.config)["optuna_number"])


@dataclass(frozen=True)
class SuggestionRecorder:
    """Writes a trial's row when the searcher suggests it, before Ray starts it (picklable: Ray saves
    the searcher with plain pickle)."""

    store: ResultsStore
    search_id: int

    def __call__(self, ray_trial_id: str, config: TrialConfig) -> None:
        key = str(config["optuna_number"])
        self.store.start_trial(
            search_id=self.search_id,
            trial_key=key,
            schedule=tuple(config["schedule"]),
            params=config["train"],
            optuna_number=config["optuna_number"],
        )
        self.store.set_trial_runtime(search_id=self.search_id, trial_key=key, ray_trial_id=ray_trial_id)


class StoreCallback(Callback):
    def __init__(
        self,
        store: ResultsStore,
        search_id: int,
        budget: int,
        epochs: int,
        on_progress: Callable[[SearchProgress], None] | None = None,
    ) -> None:
        self.store, self.search_id, self.budget, self.epochs = store, search_id, budget, epochs
        self.on_progress = on_progress
        self.started = time.monotonic()
        self.finished_here = 0
        self.nodes: dict[str, str] = {}  # trial key -> the Ray node recorded for it

    def __getstate__(self) -> dict[str, Any]:
        # Ray pickles callbacks into its experiment state; the progress display (a live terminal
        # with locks) stays with this driver process.
        return {**self.__dict__, "on_progress": None}

    def on_trial_result(
        self, iteration: int, trials: list[Trial], trial: Trial, result: dict[str, Any], **info: Any
    ) -> None:
        if result.get("status") == "diverged":
            return
        key = trial_key(trial)
        self.store.record_epoch(search_id=self.search_id, trial_key=key, epoch=int(result["epoch"]), metrics=result)
        node = result.get(NODE_ID)
        if node and self.nodes.get(key) != node:  # written when a trial starts or moves, not every epoch
            self.store.set_trial_runtime(search_id=self.search_id, trial_key=key, node_id=node)
            self.nodes[key] = node
        self._progress(trials)

    def on_checkpoint(self, iteration: int, trials: list[Trial], trial: Trial, checkpoint: Any, **info: Any) -> None:
        self.store.set_trial_runtime(
            search_id=self.search_id, trial_key=trial_key(trial), checkpoint_path=checkpoint.path
        )

    def on_trial_complete(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._finish(trials, trial, error=False)

    def on_trial_error(self, iteration: int, trials: list[Trial], trial: Trial, **info: Any) -> None:
        self._finish(trials, trial, error=True)

    def _finish(self, trials: list[Trial], trial: Trial, error: bool) -> None:
        # The error's last line (the exception); Ray keeps the whole traceback in the trial's folder.
        last_line = str(trial.get_error() or "").strip().splitlines()[-1:] if error else []
        outcome = trial_outcome(trial.last_result, error, self.epochs, last_line[0] if last_line else None)
        self.store.finish_trial(
            search_id=self.search_id, trial_key=trial_key(trial), state=outcome.state, error=outcome.error
        )
        self.finished_here += 1
        self._progress(trials)

    def _progress(self, trials: list[Trial]) -> None:
        if self.on_progress is None:
            return
        counts = self.store.trial_counts(search_id=self.search_id)
        best = self.store.best_trial(search_id=self.search_id)
        self.on_progress(
            SearchProgress(
                budget=self.budget,
                finished=sum(n for state, n in counts.items() if state.is_finished),
                running=sum(1 for t in trials if t.status == Trial.RUNNING),
                pruned=counts[TrialState.PRUNED],
                failed=counts[TrialState.FAIL],
                best_val_acc=best.val_acc if best else None,
                best_schedule=list(best.schedule) if best else None,
                elapsed=time.monotonic() - self.started,
                finished_this_run=self.finished_here,
            )
        )
