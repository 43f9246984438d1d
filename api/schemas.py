"""Request and response bodies, one group per resource, each with an OpenAPI example.

Responses are built from the store's frozen records (`from_attributes`) or from
`Recommendation.to_dict()`; nothing here talks to the database.
"""

from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator, model_validator

import prs_search
from prs_search.store import SearchStatus, TrialState

SPACES_DIR = Path(prs_search.__file__).parent / "search_spaces"
# The built-in search spaces, listed when this module is imported (no torch import: only file names).
SpaceName = Enum("SpaceName", {p.stem: p.stem for p in sorted(SPACES_DIR.glob("*.yaml"))}, type=str)  # type: ignore[misc]
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,199}$"
DATASET_PATTERN = r"^(imagefolder:[^\x00-\x1f]{1,116}|[A-Za-z0-9][A-Za-z0-9_.\-]{0,127})$"
PRESET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
# Free text in a query or path (a dataset to look up, a search id or name): no control characters and
# not blank, which the store refuses (a schema that admitted it would promise an answer it cannot give).
TEXT_PATTERN = r"^[^\x00-\x1f]*[^\s\x00-\x1f][^\x00-\x1f]*$"
MAX_INT32 = 2**31 - 1

INT_FIELDS = ("budget", "num_samples", "epochs", "max_concurrent", "grace_period", "reduction_factor", "seed")
_STAMP = "2025-01-01T12:00:00+00:00"


class Out(BaseModel):
    """Response models read the store's records by attribute."""

    model_config = ConfigDict(from_attributes=True)


# -- errors -----------------------------------------------------------------------------------------


class ErrorOut(BaseModel):
    """Every error that is not request validation."""

    detail: str = Field(examples=["no searches for dataset 'imagenet'; datasets with searches: cifar100"])


class UnprocessableOut(BaseModel):
    """422: FastAPI's list of validation errors, or one sentence for values that are well-formed but
    invalid together (e.g. both `num_samples` and `fraction`)."""

    detail: str | list[dict[str, Any]]


# -- health -----------------------------------------------------------------------------------------


class HealthOut(BaseModel):
    status: Literal["ok", "unavailable"] = Field(description="`unavailable` (HTTP 503) when the database is not.")
    database: Literal["ok", "unreachable"]
    backend: str = Field(description="sqlite or postgresql")
    searches: int | None = Field(description="Number of stored searches (null when unreachable).")
    writes: Literal["token", "open", "disabled"] = Field(
        description="How POST /v1/searches is guarded: bearer token, open (auth disabled), or read-only API."
    )
    runner: Literal["subprocess", "none"]
    version: str
    detail: str | None = None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"status": "ok", "database": "ok", "backend": "postgresql", "searches": 12, "writes": "token",
                 "runner": "subprocess", "version": "0.1.0", "detail": None}
            ]
        }
    )  # fmt: skip


# -- datasets ---------------------------------------------------------------------------------------


class DatasetOut(Out):
    dataset: str
    sizes: list[int] = Field(description="Every searched size (num_samples), ascending.")
    searches: int
    trials: int = Field(description="Trials of all its searches, every state.")
    complete_trials: int
    best_sizes: list[int] = Field(description="Sizes with a finished search, i.e. a stored best schedule.")


class DatasetsOut(BaseModel):
    data: list[DatasetOut]
    count: int

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"data": [{"dataset": "cifar100", "sizes": [1000, 5000, 20000], "searches": 3, "trials": 150,
                           "complete_trials": 61, "best_sizes": [1000, 5000, 20000]}], "count": 1}
            ]
        }
    )  # fmt: skip


# -- recommendation ---------------------------------------------------------------------------------


class ProvenanceOut(BaseModel):
    search_id: int
    search_name: str
    trial_id: int
    num_samples: int
    val_acc: float
    weight: float = Field(description="Share in the answer: 1.0, or 1 - t and t when interpolated.")


class RecommendationOut(BaseModel):
    dataset: str
    num_samples: int = Field(description="The size answered for (derived from `fraction` when that was asked).")
    fraction: float | None
    method: Literal["exact", "nearest", "interpolated"]
    schedule: list[int] = Field(description="Switch epoch per layer: 0 = attention from the start, E = conv only.")
    epochs: int
    model: str
    stem: str
    val_acc: float = Field(description="Expected validation accuracy (interpolated like the schedule).")
    test_acc: float | None = Field(description="Measured test accuracy; only for `exact`.")
    warning: str | None
    searched_sizes: list[int]
    provenance: list[ProvenanceOut]
    trials_backing: int = Field(description="Trials (every state) of the searches the answer comes from.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"dataset": "cifar100", "num_samples": 10000, "fraction": None, "method": "interpolated",
                 "schedule": [7, 5, 4, 2, 1, 0, 0], "epochs": 10, "model": "tiny", "stem": "conv",
                 "val_acc": 0.412, "test_acc": None, "warning": None, "searched_sizes": [5000, 20000],
                 "provenance": [
                     {"search_id": 3, "search_name": "cifar100-5000", "trial_id": 41, "num_samples": 5000,
                      "val_acc": 0.35, "weight": 0.5},
                     {"search_id": 5, "search_name": "cifar100-20000", "trial_id": 97, "num_samples": 20000,
                      "val_acc": 0.474, "weight": 0.5}],
                 "trials_backing": 100}
            ]
        }
    )  # fmt: skip


# -- searches and trials ----------------------------------------------------------------------------


class TrialCountsOut(BaseModel):
    RUNNING: int = 0
    COMPLETE: int = 0
    PRUNED: int = 0
    FAIL: int = 0


class TrialOut(Out):
    id: int
    search_id: int
    trial_key: str
    optuna_number: int | None
    schedule: list[int]
    params: dict[str, Any]
    state: TrialState
    val_acc: float | None = Field(description="Validation accuracy of its latest epoch.")
    best_val_acc: float | None
    epochs_run: int
    seconds: float
    started_at: datetime
    finished_at: datetime | None
    error: str | None


_TRIAL_EXAMPLE: dict[str, JsonValue] = {
    "id": 41, "search_id": 3, "trial_key": "7", "optuna_number": 7, "schedule": [6, 5, 3, 2, 1, 0, 0],
    "params": {"e1": 6}, "state": "COMPLETE", "val_acc": 0.35, "best_val_acc": 0.36, "epochs_run": 10,
    "seconds": 84.2, "started_at": _STAMP, "finished_at": _STAMP, "error": None,
}  # fmt: skip


class TrialsOut(BaseModel):
    data: list[TrialOut]
    count: int = Field(description="Trials matching the filter (all pages).")
    counts: TrialCountsOut = Field(description="The search's trials by state, live while it runs.")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"data": [_TRIAL_EXAMPLE], "count": 1,
                          "counts": {"RUNNING": 2, "COMPLETE": 1, "PRUNED": 4, "FAIL": 0}}]
        }
    )  # fmt: skip


class EpochOut(Out):
    epoch: int
    val_acc: float
    val_loss: float | None
    train_loss: float | None
    train_acc: float | None
    seconds: float
    lr: float | None
    attention_layers: int
    recorded_at: datetime


class EpochsOut(BaseModel):
    data: list[EpochOut]
    count: int


class SearchOut(Out):
    id: int
    name: str
    dataset: str
    num_samples: int
    fraction: float | None
    space: str
    budget: int
    epochs: int
    model: str
    stem: str
    seed: int
    status: SearchStatus
    study_name: str = Field(description="The Optuna study (same database; open it in optuna-dashboard).")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    test_acc: float | None
    test_trial_id: int | None
    error: str | None


_SEARCH_EXAMPLE: dict[str, JsonValue] = {
    "id": 3, "name": "cifar100-5000", "dataset": "cifar100", "num_samples": 5000, "fraction": 0.1,
    "space": "monotone", "budget": 50, "epochs": 10, "model": "tiny", "stem": "conv", "seed": 0,
    "status": "running", "study_name": "prs-cifar100-5000", "created_at": _STAMP, "updated_at": _STAMP,
    "finished_at": None, "test_acc": None, "test_trial_id": None, "error": None,
}  # fmt: skip


class SearchesOut(BaseModel):
    data: list[SearchOut]
    count: int = Field(description="Searches matching the filters (all pages).")

    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_SEARCH_EXAMPLE], "count": 1}]})


class SearchDetailOut(SearchOut):
    """One search with its live state: trials by state, progress and the best trial so far."""

    space_config: dict[str, Any]
    architecture: dict[str, Any] = Field(alias="model_config", description="The model's settings (depth, dim, ...).")
    ray_address: str | None
    trial_counts: TrialCountsOut
    trials_finished: int = Field(description="COMPLETE + PRUNED + FAIL.")
    progress: float = Field(description="trials_finished / budget, in [0, 1].")
    best_trial: TrialOut | None = Field(description="The COMPLETE trial with the best final val_acc so far.")

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {**_SEARCH_EXAMPLE, "space_config": {"name": "monotone", "schedule": "monotone"},
                 "model_config": {"preset": "tiny", "depth": 7}, "ray_address": None,
                 "trial_counts": {"RUNNING": 2, "COMPLETE": 1, "PRUNED": 4, "FAIL": 0}, "trials_finished": 5,
                 "progress": 0.1, "best_trial": _TRIAL_EXAMPLE}
            ]
        },
    )  # fmt: skip


class SearchCreate(BaseModel):
    """`prs-search run`'s options. Give at most one of `fraction` and `num_samples` (neither: the whole
    training split). The search runs in the background; its name is generated unless given."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"dataset": "cifar100", "budget": 50, "fraction": 0.1, "space": "monotone", "epochs": 10,
                 "model": "tiny", "stem": "conv", "gpus_per_trial": 0.25}
            ],
            # at most one of fraction and num_samples (a null counts as not given)
            "not": {
                "required": ["fraction", "num_samples"],
                "properties": {"fraction": {"type": "number"}, "num_samples": {"type": "integer"}},
            },
        },
    )  # fmt: skip

    # Numbers are strict: true is not 1 and "3" is not 3 (only 3.0 is, see _whole_number).
    dataset: str = Field(
        pattern=DATASET_PATTERN, max_length=128,
        description="digits, synthetic, cifar10, cifar100 or imagefolder:PATH (a folder on the server).",
    )  # fmt: skip
    budget: int = Field(strict=True, ge=1, le=100_000, description="Number of trials.")
    fraction: float | None = Field(default=None, strict=True, gt=0.0, le=1.0, allow_inf_nan=False)
    num_samples: int | None = Field(default=None, strict=True, ge=1, le=MAX_INT32)
    space: SpaceName = Field(
        default=SpaceName("monotone"),
        description="A built-in search space (custom YAML files: add them to the built-in folder, or use the CLI).",
    )
    epochs: int = Field(default=10, strict=True, ge=1, le=10_000)
    model: str = Field(default="tiny", pattern=PRESET_PATTERN)
    stem: Literal["conv", "patch"] = "conv"
    gpus_per_trial: float = Field(default=0.0, strict=True, ge=0.0, le=64.0, allow_inf_nan=False)
    cpus_per_trial: float = Field(default=1.0, strict=True, gt=0.0, le=1024.0, allow_inf_nan=False)
    max_concurrent: int | None = Field(default=None, strict=True, ge=1, le=100_000)
    grace_period: int | None = Field(default=None, strict=True, ge=1, le=10_000)
    reduction_factor: int = Field(default=3, strict=True, ge=2, le=100)
    seed: int = Field(default=0, strict=True, ge=0, le=MAX_INT32)
    compile: bool = Field(default=False, strict=True, description="torch.compile each block (pays on GPUs).")
    name: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="Default: DATASET-SIZE-SPACE-TIMESTAMP-RANDOM."
    )

    @field_validator(*INT_FIELDS, mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        """JSON Schema's integers include 3.0; strict otherwise (no true, no "3")."""
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @model_validator(mode="after")
    def _one_size(self) -> "SearchCreate":
        if self.fraction is not None and self.num_samples is not None:
            raise ValueError("give either fraction or num_samples, not both")
        return self

    def run_options(self) -> dict[str, Any]:
        """The options of `prs-search run` (name excluded: the launcher sets it)."""
        return self.model_dump(mode="json", exclude={"name"})


class SearchLaunchOut(BaseModel):
    """202: the search was accepted; poll `location` (404 with a progress sentence until it registers)."""

    name: str
    state: Literal["starting", "accepted"] = Field(
        description="`starting`: `prs-search run` was started; `accepted`: recorded only (PRS_API_RUNNER=none)."
    )
    runner: Literal["subprocess", "none"]
    pid: int | None
    accepted_at: datetime
    location: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "cifar100-f0.1-monotone-20250101-120000-1a2b3c", "state": "starting",
                 "runner": "subprocess", "pid": 4242, "accepted_at": _STAMP,
                 "location": "/v1/searches/cifar100-f0.1-monotone-20250101-120000-1a2b3c"}
            ]
        }
    )  # fmt: skip
