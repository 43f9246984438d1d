"""How a finished Ray trial maps to a final state: one rule shared by the Optuna searcher and the store."""

from dataclasses import dataclass
from typing import Any

from prs_search.field_types import TrialState

METRIC = "val_acc"
# Our epoch counter, not Ray's training_iteration: a trial replayed from its checkpoint by a resumed
# search is a new Ray trial whose iteration count restarts at 1.
TIME_ATTR = "epochs_done"


@dataclass(frozen=True)
class Outcome:
    state: TrialState  # a finished one: COMPLETE, PRUNED or FAIL
    value: float | None
    error: str | None = None


def trial_outcome(result: dict[str, Any] | None, error: bool, max_epochs: int, error_msg: str | None = None) -> Outcome:
    """COMPLETE only when all epochs ran; a trial stopped early by the scheduler is PRUNED.

    Ray's OptunaSearch calls a trial stopped by ASHA COMPLETE with its low-epoch value, and an errored
    trial that reported something COMPLETE too: both would mislead the sampler.
    """
    if error:
        return Outcome(TrialState.FAIL, None, error_msg or "the trial raised an error")
    if not result or METRIC not in result:
        return Outcome(TrialState.PRUNED, None)
    if result.get("status") == "diverged":
        return Outcome(TrialState.FAIL, None, result.get("error") or "training diverged")
    if int(result.get(TIME_ATTR, 0)) < max_epochs:
        return Outcome(TrialState.PRUNED, float(result[METRIC]))
    return Outcome(TrialState.COMPLETE, float(result[METRIC]))
