"""Request and response bodies, one group per resource, each with an OpenAPI example.

The bodies are the project's own records and search request (`prs_search.schemas`, `prs_search.recommend`)
or thin subclasses of them that add the examples OpenAPI shows, and the list envelopes (`{data, count}`);
nothing here talks to the database.
"""

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from prs_search.field_types import Cost
from prs_search.recommend import Provenance, Recommendation
from prs_search.schemas import (
    DatasetSummary,
    DriverPublic,
    EpochPublic,
    SearchDetail,
    SearchPublic,
    TrialPublic,
)
from prs_search.search_request import SearchRequest
from prs_search.search_spaces import builtin_spaces

# The built-in search spaces, listed when this module is imported (no torch import: only file names).
SpaceName = Enum("SpaceName", {name: name for name in builtin_spaces()}, type=str)  # type: ignore[misc]
# Free text in a query or path (a dataset to look up, a search id or name): no control characters and
# not blank, which the store refuses (a schema that admitted it would promise an answer it cannot give).
# White space is spelled out, not `\s`: JavaScript's `\s` (the OpenAPI reading, which schema-driven clients
# and fuzzers follow) leaves out U+0085, which Python's and pydantic's count as white space.
_WHITE_SPACE = r"\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = rf"^[^\x00-\x1f]*[^{_WHITE_SPACE}][^\x00-\x1f]*$"
_STAMP = "2025-01-01T12:00:00+00:00"


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


# Response models that add nothing to a record are subclasses all the same: the OpenAPI document names
# its schemas after the classes, and keeps the names it has always had (DatasetOut, TrialOut, ...).

# -- datasets ---------------------------------------------------------------------------------------


class DatasetOut(DatasetSummary):
    pass


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


class ProvenanceOut(Provenance):
    pass


class RecommendationOut(Recommendation):
    provenance: tuple[ProvenanceOut, ...]  # the same field, under the response model's name

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"dataset": "cifar100", "num_samples": 10000, "fraction": None, "method": "interpolated",
                 "schedule": [5, 4, 3, 1, 0, 0], "epochs": 10, "model": "small", "stem": "conv",
                 "val_acc": 0.412, "test_acc": None, "warning": None, "searched_sizes": [5000, 20000],
                 "provenance": [
                     {"search_id": 3, "search_name": "cifar100-5000", "trial_id": 41, "num_samples": 5000,
                      "val_acc": 0.35, "weight": 0.5},
                     {"search_id": 5, "search_name": "cifar100-20000", "trial_id": 97, "num_samples": 20000,
                      "val_acc": 0.474, "weight": 0.5}],
                 "trials_backing": 100, "confidence": None,
                 "confidence_note": "no interval exists at 10000 images: nothing was measured at this size "
                                    "(the schedule is interpolated)",
                 "prediction": None,
                 "prediction_note": "the cross-size model needs 2 searched sizes with 8 finished runs each "
                                    "(finished runs by size: 5000: 6, 20000: 5)"},
                {"dataset": "cifar100", "num_samples": 10000, "fraction": None, "method": "model",
                 "schedule": [6, 4, 3, 1, 0, 0], "epochs": 10, "model": "small", "stem": "conv",
                 "val_acc": 0.431, "test_acc": None, "warning": None, "searched_sizes": [5000, 20000],
                 "provenance": [
                     {"search_id": 3, "search_name": "cifar100-5000", "trial_id": 41, "num_samples": 5000,
                      "val_acc": 0.35, "weight": 0.55},
                     {"search_id": 5, "search_name": "cifar100-20000", "trial_id": 97, "num_samples": 20000,
                      "val_acc": 0.474, "weight": 0.45}],
                 "trials_backing": 100, "confidence": None,
                 "confidence_note": "no seed interval at 10000 images: nothing was measured at this size",
                 "prediction": {"val_acc_low": 0.398, "val_acc_high": 0.464, "noise_sd": 0.012, "runs": 62,
                                "sizes": [5000, 20000], "candidates": 1716},
                 "prediction_note": "the cross-size model's best of 1716 schedules, fitted on 62 finished runs of the "
                                    "searched sizes (at least 8 each at 5000, 20000); the interval is the Gaussian "
                                    "process's 95% interval of the expected validation accuracy"},
                {"dataset": "cifar100", "num_samples": 5000, "fraction": None, "method": "exact",
                 "schedule": [4, 2, 1, 0, 0, 0], "epochs": 10, "model": "small", "stem": "conv",
                 "val_acc": 0.352, "test_acc": 0.347, "warning": None, "searched_sizes": [5000, 20000],
                 "provenance": [
                     {"search_id": 3, "search_name": "cifar100-5000", "trial_id": 41, "num_samples": 5000,
                      "val_acc": 0.352, "weight": 1.0}],
                 "trials_backing": 50,
                 "confidence": {"seeds": 3, "val_acc_low": 0.331, "val_acc_high": 0.373,
                                "baseline_schedule": [5, 4, 3, 2, 1, 0], "advantage": 0.018,
                                "advantage_low": 0.004, "advantage_high": 0.032, "significant": True},
                 "confidence_note": "val_acc is the mean over 3 seeds with its 95% Student-t interval; the "
                                    "advantage is paired by seed against the PRS default; test_acc was measured "
                                    "once, for this schedule",
                 "prediction": None,
                 "prediction_note": "a search ran at 5000 images: its own answer, not the cross-size model's"}
            ]
        }
    )  # fmt: skip


# -- searches and trials ----------------------------------------------------------------------------


class TrialCountsOut(BaseModel):
    RUNNING: int = 0
    COMPLETE: int = 0
    PRUNED: int = 0
    FAIL: int = 0


class TrialOut(TrialPublic):
    pass


_TRIAL_EXAMPLE: dict[str, JsonValue] = {
    "id": 41, "search_id": 3, "trial_key": "7", "optuna_number": 7, "schedule": [6, 5, 3, 2, 1, 0],
    "params": {"e1": 6}, "state": "COMPLETE", "val_acc": 0.35, "best_val_acc": 0.36, "epochs_run": 10,
    "seconds": 84.2, "flops": 3.1e13, "started_at": _STAMP, "finished_at": _STAMP, "error": None,
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


class ParetoOut(BaseModel):
    """The accuracy-compute front of a search: its complete trials that no other beats in both validation
    accuracy and cost (a trial equal in both is on it too), cheapest first."""

    cost: Cost = Field(description="`flops`: training FLOPs counted over the epochs; `seconds`: training time.")
    data: list[TrialOut] = Field(description="The trials on the front, cheapest first.")
    count: int = Field(description="Trials on the front.")
    considered: int = Field(description="The search's COMPLETE trials with a validation accuracy.")
    uncounted: int = Field(
        description="Of those, the trials without the cost (trained before FLOPs were counted): not candidates."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"cost": "flops", "data": [_TRIAL_EXAMPLE], "count": 1, "considered": 12, "uncounted": 0}]
        }
    )


class EpochOut(EpochPublic):
    pass


class EpochsOut(BaseModel):
    data: list[EpochOut]
    count: int


class SearchOut(SearchPublic):
    pass


class DriverOut(DriverPublic):
    pass


_SEARCH_EXAMPLE: dict[str, JsonValue] = {
    "id": 3, "name": "cifar100-5000", "dataset": "cifar100", "num_samples": 5000, "fraction": 0.1,
    "space": "monotone", "budget": 50, "epochs": 10, "model": "small", "stem": "conv", "seed": 0,
    "status": "running", "study_name": "prs-cifar100-5000", "created_at": _STAMP, "updated_at": _STAMP,
    "finished_at": None, "test_acc": None, "test_trial_id": None, "error": None,
}  # fmt: skip


class SearchesOut(BaseModel):
    data: list[SearchOut]
    count: int = Field(description="Searches matching the filters (all pages).")

    model_config = ConfigDict(json_schema_extra={"examples": [{"data": [_SEARCH_EXAMPLE], "count": 1}]})


class SearchDetailOut(SearchDetail):
    """One search with its live state: trials by state, progress and the best trial so far."""

    trial_counts: TrialCountsOut
    trials_finished: int = Field(description="COMPLETE + PRUNED + FAIL.")
    progress: float = Field(description="trials_finished / budget, in [0, 1].")
    best_trial: TrialOut | None = Field(description="The COMPLETE trial with the best final val_acc so far.")
    driver: DriverOut | None = Field(
        description="The process running the search (null: none holds it). A `running` search whose driver is "
        "not `alive` was killed: `prs-search run --name NAME --resume` continues it."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {**_SEARCH_EXAMPLE, "space_config": {"name": "monotone", "schedule": "monotone"},
                 "model_config": {"preset": "small", "conv": "dense", "depth": 6}, "ray_address": None,
                 "trial_counts": {"RUNNING": 2, "COMPLETE": 1, "PRUNED": 4, "FAIL": 0}, "trials_finished": 5,
                 "progress": 0.1, "best_trial": _TRIAL_EXAMPLE,
                 "driver": {"host": "node-1/4f1c.../4026531836", "pid": 4242, "origin": "cli", "acquired_at": _STAMP,
                            "heartbeat_at": _STAMP, "cancel_requested_at": None, "alive": True}}
            ]
        },
    )  # fmt: skip


class SearchCreate(SearchRequest):
    """`prs-search run`'s options. Give at most one of `fraction` and `num_samples` (neither: the whole
    training split). The search runs in the background; its name is generated unless given."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"dataset": "cifar100", "budget": 50, "fraction": 0.1, "space": "monotone", "epochs": 10,
                 "model": "small", "stem": "conv", "gpus_per_trial": 0.25}
            ],
            # at most one of fraction and num_samples (a null counts as not given)
            "not": {
                "required": ["fraction", "num_samples"],
                "properties": {"fraction": {"type": "number"}, "num_samples": {"type": "integer"}},
            },
        },
    )  # fmt: skip

    # Over HTTP: only the built-in spaces (no paths on the server).
    space: SpaceName = Field(  # type: ignore[assignment]
        default=SpaceName("monotone"),
        description="A built-in search space (custom YAML files: add them to the built-in folder, or use the CLI).",
    )

    def as_request(self) -> SearchRequest:
        """The plain request (the space as its name), as the launcher hands it to `prs-search run-request`."""
        return SearchRequest.model_validate(self.model_dump(mode="json"))


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


class SearchCancelOut(BaseModel):
    """DELETE /v1/searches/{search}: 200 `cancelled` (it had no running driver, or had not registered yet),
    or 202 `cancelling` (its driver stops within a heartbeat and then marks it cancelled)."""

    name: str
    status: Literal["cancelled", "cancelling"]
    detail: str

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "cifar100-5000", "status": "cancelling",
                 "detail": "its driver stops within a few seconds; its finished trials are kept"}
            ]
        }
    )  # fmt: skip
