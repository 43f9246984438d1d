"""A trial's config, from the searcher (or the re-evaluation) to the trainable: its keys said once.

Ray hands a trial's config around as a plain dict (through the searcher, its experiment state and the
workers), so these are TypedDicts: plain dicts at run time, checked keys for the type checker. The keys
are written into Ray's experiment folders and read back when a resumed search continues a trial: their
spelling stays as it is.
"""

from collections.abc import Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast

CandidateRole = Literal["finalist", "baseline"]


class TrainSpec(TypedDict):
    """What `run_trial` trains: a schedule, the hyper-parameters over the search's shared ones, and, for a
    trial a dead driver left running, the recorded checkpoint it continues from."""

    schedule: list[int]
    train: dict[str, Any]
    resume_from: NotRequired[str | None]


class TrialConfig(TrainSpec):
    """A search trial: a run of one Optuna trial, whose number keys its row and its folder. (Ray's
    OptunaSearch adds Optuna's own parameters, `e1` ...; nothing here reads them.)"""

    optuna_number: int


class ConfirmationRun(TrainSpec):
    """A re-evaluation run: a finalist, or the PRS default, at one seed."""

    params: dict[str, Any]  # the candidate's hyper-parameters as the search trained them (`train` adds the seed)
    candidate: str
    role: CandidateRole
    source_trial_id: int | None
    seed: int


class ConfirmationConfig(TypedDict):
    """A re-evaluation trial's config: Ray's grid search over the runs puts each under `run`."""

    run: ConfirmationRun


def trial_config(config: Mapping[str, Any]) -> TrialConfig:
    """A search trial's config as Ray hands it back (`Trial.config`, typed `dict[str, Any]` there)."""
    return cast(TrialConfig, config)


def confirmation_config(config: Mapping[str, Any]) -> ConfirmationConfig:
    """A re-evaluation trial's config as Ray hands it back."""
    return cast(ConfirmationConfig, config)
