"""Plain, immutable records the results store hands out: no sessions, no lazy loading, safe to keep.

Datetimes are timezone-aware UTC. States and statuses are `StrEnum`s, so they compare equal to their
string values (`record.state == "COMPLETE"`) and serialise as plain strings.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class SearchStatus(StrEnum):
    """Life cycle of a search: pending -> running -> finished | failed | interrupted (resumable)."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def is_final(self) -> bool:
        return self in (SearchStatus.FINISHED, SearchStatus.FAILED, SearchStatus.INTERRUPTED)


class TrialState(StrEnum):
    """Optuna's trial states that a Ray Tune trial can end in, plus RUNNING."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"

    @property
    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


@dataclass(frozen=True, slots=True)
class SearchRecord:
    """One search: what was searched (dataset, size, space, budget, model) and how it went."""

    id: int
    name: str
    dataset: str
    num_samples: int
    fraction: float | None
    space: str
    space_config: dict[str, Any]
    budget: int
    epochs: int
    model: str
    model_config: dict[str, Any]
    stem: str
    seed: int
    status: SearchStatus
    study_name: str
    storage_path: str | None
    ray_address: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    test_acc: float | None
    test_trial_id: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class TrialRecord:
    """One trial (one schedule trained once); metrics are aggregates over its epoch rows."""

    id: int
    search_id: int
    trial_key: str
    optuna_number: int | None
    schedule: tuple[int, ...]
    params: dict[str, Any]
    state: TrialState
    val_acc: float | None
    best_val_acc: float | None
    epochs_run: int
    seconds: float
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    ray_trial_id: str | None = None
    checkpoint_path: str | None = None
    node_id: str | None = None


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """Metrics of one epoch (0-based) of one trial."""

    id: int
    trial_id: int
    epoch: int
    val_acc: float
    val_loss: float | None
    train_loss: float | None
    train_acc: float | None
    seconds: float
    lr: float | None
    attention_layers: int
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class BestScheduleRecord:
    """The best schedule known for one (dataset, num_samples), with where it came from."""

    id: int
    dataset: str
    num_samples: int
    search_id: int
    search_name: str
    trial_id: int
    schedule: tuple[int, ...]
    epochs: int
    model: str
    stem: str
    val_acc: float
    test_acc: float | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class DatasetSummary:
    """What has been searched for one dataset."""

    dataset: str
    sizes: tuple[int, ...]
    searches: int
    trials: int
    complete_trials: int
    best_sizes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class StudyRunRecord:
    """One training run of a study: a schedule (as labelled by the user, and as trained) at one dataset
    size and seed. `test_acc` is None when training diverged."""

    id: int
    study: str
    dataset: str
    fraction: float | None
    num_samples: int
    schedule_label: str
    schedule: tuple[int, ...]
    epochs: int
    model: str
    stem: str
    seed: int
    status: str
    val_acc: float
    test_acc: float | None
    seconds: float
    created_at: datetime
