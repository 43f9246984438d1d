"""One typed record per entity (search, trial, epoch, best schedule, study run), shared by the store, the
API and the CLI, and the one search request they all pass on.

Records are frozen pydantic models built from the `Annotated` field types below. The store returns them
with `Record.model_validate(row, from_attributes=True)` and checks its arguments with the same types
(`prs_search.errors.checked`); the API answers with them, or with thin subclasses that add OpenAPI
examples; the CLI prints them. Length and range limits are named constants that the SQL columns use too
(`prs_search.store.models`), as Optuna's `MAX_INDEXED_STRING_LENGTH` is.

Where the API shows less than the store keeps, the record extends the public model (`TrialPublic` ->
`TrialRecord`), as the FastAPI template's `XPublic` does. Adding a field to a search is: its column, a
migration, and one line here (plus the `create_search` argument when a caller, not the store, sets it).

Nothing here imports torch or Ray: the API lists search spaces and validates requests without them.
"""

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import pydantic_core
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    model_validator,
)

from prs_search.dataset_registry import IMAGEFOLDER_PREFIX, datasets_help, list_datasets
from prs_search.errors import NOT_BLANK, Label
from prs_search.recipe import RECIPE, ConvVariant

# -- limits shared with the SQL columns -------------------------------------------------------------

NAME_LENGTH = 255  # search, study and Optuna study names; Ray addresses
DATASET_LENGTH = 128
LABEL_LENGTH = 128  # search space, model preset, schedule label, trial key, Ray trial id
STEM_LENGTH = 32  # also a layer's mode
STATUS_LENGTH = 16
NODE_ID_LENGTH = 64  # Ray node ids are 56 hex digits
MAX_INT32 = 2**31 - 1  # INTEGER columns (32-bit on PostgreSQL): ids, sizes, seeds
MAX_PAGE = 1000  # rows one list call returns at most

# -- field types ------------------------------------------------------------------------------------


def _text(max_length: int) -> StringConstraints:
    return StringConstraints(max_length=max_length, pattern=NOT_BLANK)


Name = Annotated[str, _text(NAME_LENGTH)]
DatasetName = Annotated[str, _text(DATASET_LENGTH)]
ShortText = Annotated[str, _text(LABEL_LENGTH)]
StemName = Annotated[str, _text(STEM_LENGTH)]
NodeId = Annotated[str, _text(NODE_ID_LENGTH)]

Count = Annotated[int, Field(ge=1, le=MAX_INT32)]  # dataset sizes, budgets, epochs
NonNegative = Annotated[int, Field(ge=0, le=MAX_INT32)]  # epochs (0-based), switch epochs, seeds, layer counts
SwitchEpochs = Annotated[
    tuple[NonNegative, ...],
    Field(min_length=1, description="Switch epoch per layer: 0 = attention from the start, E = conv only."),
    Label("switch epochs"),
]
Finite = Annotated[float, Field(allow_inf_nan=False)]
Seconds = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Fraction = Annotated[
    float, Field(gt=0.0, le=1.0, allow_inf_nan=False, description="Dataset size as a fraction of the training split.")
]


def _finite_or_none(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


# A measurement that may be missing; NaN and infinities (a diverged loss) are stored as missing.
Measured = Annotated[float | None, AfterValidator(_finite_or_none)]


def _json_fallback(value: Any) -> Any:
    for attr in ("tolist", "item"):  # numpy / torch scalars and arrays
        if hasattr(value, attr):
            return getattr(value, attr)()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _plain_json(value: object) -> object:
    """A copy of a mapping in plain JSON types: numpy and torch values become numbers and lists, NaN and
    infinities become null (JSON, and PostgreSQL's json type, have neither)."""
    if not isinstance(value, Mapping):
        return value  # refused by the dict type that follows
    try:
        return json.loads(pydantic_core.to_json(dict(value), inf_nan_mode="null", fallback=_json_fallback))
    except (TypeError, ValueError, pydantic_core.PydanticSerializationError) as exc:
        raise ValueError(f"not JSON serialisable: {str(exc).removeprefix('Error serializing to JSON: ')}") from None


JsonObject = Annotated[dict[str, Any], BeforeValidator(_plain_json)]


class SearchStatus(StrEnum):
    """Life cycle of a search: pending -> running -> finished | failed | interrupted (resumable) |
    cancelled (stopped on request; its finished trials are kept, it is not resumed)."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (SearchStatus.FINISHED, SearchStatus.FAILED, SearchStatus.INTERRUPTED, SearchStatus.CANCELLED)

    @property
    def is_closed(self) -> bool:
        """Nothing of it will run again: not resumed, nothing to cancel."""
        return self in (SearchStatus.FINISHED, SearchStatus.FAILED, SearchStatus.CANCELLED)


class TrialState(StrEnum):
    """Optuna's trial states that a Ray Tune trial can end in, plus RUNNING."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"

    @property
    def is_finished(self) -> bool:
        return self is not TrialState.RUNNING


SearchStatusField = Annotated[SearchStatus, Label("search status")]


def as_id(key: str) -> int | None:
    """The search id that `key` means when it is written as one: ASCII digits, spaces around them allowed
    (None: it is a name)."""
    digits = key.strip()
    return int(digits) if digits.isascii() and digits.isdigit() else None


def _not_an_id(name: str) -> str:
    if as_id(name) is not None:
        raise ValueError(f"a search name must not be all digits (that is how ids are written), got {name!r}")
    return name


# A search is found by its name or its id, so a name that reads as an id would shadow another search.
SearchName = Annotated[Name, AfterValidator(_not_an_id), Label("search name")]
DriverOrigin = Literal["cli", "api"]
TrialStateField = Annotated[TrialState, Label("trial state")]
StudyRunStatus = Literal["completed", "diverged"]


# -- records ----------------------------------------------------------------------------------------


class Record(BaseModel):
    """Immutable and safe to keep (no session, no lazy loading); read from ORM rows by attribute.

    Datetimes are timezone-aware UTC. States and statuses are `StrEnum`s, so they compare equal to their
    string values (`record.state == "COMPLETE"`) and serialise as plain strings."""

    model_config = ConfigDict(
        frozen=True,
        from_attributes=True,
        validate_by_name=True,
        validate_by_alias=True,
        # A record always has every field: in a response schema, a field with a default is required too.
        json_schema_serialization_defaults_required=True,
    )


class SearchPublic(Record):
    """One search, as lists show it: what was searched (dataset, size, space, budget, model) and how it went."""

    id: int
    name: Name
    dataset: DatasetName
    num_samples: Count
    fraction: Fraction | None
    space: ShortText
    budget: Count
    epochs: Count
    model: ShortText
    stem: StemName
    seed: NonNegative
    status: SearchStatusField
    study_name: Name = Field(description="The Optuna study (same database; open it in optuna-dashboard).")
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    test_acc: Finite | None
    test_trial_id: int | None
    error: str | None
    val_size: Count | None = Field(
        default=None, description="Validation images the search tuned on (older searches: not recorded)."
    )


class SearchDetail(SearchPublic):
    """One search with the settings it ran with."""

    space_config: JsonObject
    searcher: ShortText | None = None  # older searches: not recorded (they used tpe)
    early_stopping: bool | None = None
    confirm_top: NonNegative | None = None
    confirm_seeds: NonNegative | None = None
    # `model_config` is pydantic's own name: the field is `architecture`, spelled `model_config` outside.
    architecture: JsonObject = Field(alias="model_config", description="The model's settings (depth, dim, ...).")
    ray_address: Name | None


class SearchRecord(SearchDetail):
    """Everything the store keeps about a search (the Ray results folder is the server's business)."""

    storage_path: str | None


class TrialPublic(Record):
    """One trial (one schedule trained once); metrics are aggregates over its epoch rows."""

    id: int
    search_id: int
    trial_key: ShortText
    optuna_number: NonNegative | None
    schedule: SwitchEpochs
    params: JsonObject
    state: TrialStateField
    val_acc: Finite | None = Field(description="Validation accuracy of its latest epoch.")
    best_val_acc: Finite | None
    epochs_run: NonNegative
    seconds: Seconds
    started_at: datetime
    finished_at: datetime | None
    error: str | None


class TrialRecord(TrialPublic):
    """A trial and where it runs: the Ray trial running it now, its latest checkpoint, its Ray node."""

    ray_trial_id: ShortText | None = None
    checkpoint_path: str | None = None
    node_id: NodeId | None = None


class LayerStatsRecord(Record):
    """One layer at the end of an epoch: its mode and what its attention looks like."""

    mode: Annotated[str, _text(STEM_LENGTH), Field(description="conv or attention")]
    attention_distance: Measured = None
    tap_mass: Measured = Field(default=None, description="Attention mass on the convolution's tap (None for conv).")


class EpochValues(Record):
    """What a trial measures in one epoch."""

    val_acc: Finite
    val_loss: Measured = None
    train_loss: Measured = None
    train_acc: Measured = None
    seconds: Seconds = 0.0
    lr: Measured = None


class _EpochLayers(Record):
    """Per-layer statistics of an epoch: stored, not (yet) part of the REST API."""

    layers: list[LayerStatsRecord] | None = None


class EpochMetrics(EpochValues, _EpochLayers):
    """What `ResultsStore.record_epoch` takes: a trial's report for one epoch (a Ray result carries more
    keys: they are ignored). `attention_layers` defaults to what the trial's schedule says."""

    model_config = ConfigDict(extra="ignore")

    attention_layers: NonNegative | None = None


class EpochPublic(EpochValues):
    """Metrics of one epoch (0-based) of one trial."""

    epoch: NonNegative
    attention_layers: NonNegative
    recorded_at: datetime


class EpochRecord(EpochPublic, _EpochLayers):
    id: int
    trial_id: int


class BestScheduleRecord(Record):
    """The best schedule known for one (dataset, num_samples), with where it came from."""

    id: int
    dataset: DatasetName
    num_samples: Count
    search_id: int
    search_name: Name
    trial_id: int | None = Field(description="Its search trial (None: the PRS default won the re-evaluation).")
    schedule: SwitchEpochs
    epochs: Count
    model: ShortText
    stem: StemName
    val_acc: Finite = Field(description="Validation accuracy: the mean over its seeds when it was re-evaluated.")
    test_acc: Finite | None
    updated_at: datetime
    seeds: Count | None = Field(default=None, description="Seeds the interval is over (None: not re-evaluated).")
    val_low: Finite | None = None
    val_high: Finite | None = None
    baseline_schedule: SwitchEpochs | None = Field(default=None, description="The PRS default it was compared with.")
    advantage: Finite | None = Field(default=None, description="Mean paired val_acc difference to the PRS default.")
    advantage_low: Finite | None = None
    advantage_high: Finite | None = None


class Confirmation(Record):
    """What the finalists' re-evaluation concluded: the schedule to recommend, its validation accuracy
    over seeds with a 95% interval, and its paired advantage over the PRS default (same seeds)."""

    trial_id: int | None = Field(description="Its search trial (None: the PRS default, never a finished trial).")
    schedule: SwitchEpochs
    seeds: Count
    val_acc: Finite = Field(description="Mean validation accuracy over the seeds.")
    val_low: Finite | None = Field(description="95% interval (Student t over seeds); None with one seed.")
    val_high: Finite | None
    baseline_schedule: SwitchEpochs = Field(description="The PRS default schedule it was compared with.")
    advantage: Finite = Field(description="Mean of val_acc minus the PRS default's, seed by seed.")
    advantage_low: Finite | None
    advantage_high: Finite | None


class ConfirmationRunRecord(Record):
    """One re-evaluation run after a search's budget: a finalist (or the PRS default) at one seed."""

    id: int
    search_id: int
    candidate: ShortText = Field(description="The finalist's trial key, or `prs` for the PRS default.")
    role: Literal["finalist", "baseline"]
    source_trial_id: int | None = Field(description="The search trial it re-evaluates (None for `prs`).")
    schedule: SwitchEpochs
    params: JsonObject
    seed: NonNegative
    reused: bool = Field(description="True: the search trial's own run at the search's seed, not retrained.")
    state: Literal["COMPLETE", "FAIL"]
    val_acc: Finite | None
    epochs_run: NonNegative
    seconds: Seconds
    checkpoint_path: str | None = None
    error: str | None = None
    created_at: datetime


class DatasetSummary(Record):
    """What has been searched for one dataset."""

    dataset: DatasetName
    sizes: tuple[int, ...] = Field(description="Every searched size (num_samples), ascending.")
    searches: int
    trials: int = Field(description="Trials of all its searches, every state.")
    complete_trials: int
    best_sizes: tuple[int, ...] = Field(description="Sizes with a finished search, i.e. a stored best schedule.")


class StudyRunRecord(Record):
    """One training run of a study: a schedule (as labelled by the user, and as trained) at one dataset
    size and seed, or the study's plain CNN reference (`model` "plain-cnn", no switch epochs and no conv
    variant). `test_acc` is None when training diverged; `train_acc` (after training, without
    augmentation) is None for runs stored before it was measured."""

    id: int
    study: Name
    dataset: DatasetName
    fraction: Fraction | None
    num_samples: Count
    schedule_label: ShortText
    schedule: tuple[NonNegative, ...] = Field(description="Switch epoch per layer; empty for the plain CNN.")
    epochs: Count
    model: ShortText
    stem: StemName
    conv: ConvVariant | None = None
    seed: NonNegative
    status: StudyRunStatus
    val_acc: Finite
    test_acc: Finite | None
    train_acc: Finite | None = None
    fourier: JsonObject | None = Field(
        default=None, description="The trained model's Fourier profile, for the runs a study analysed."
    )
    seconds: Seconds
    created_at: datetime


class DriverPublic(Record):
    """The driver that holds a search's lease, as the API shows it: one process runs a search at a time
    (`prs_search.search.driver_lease`). Not alive: it died (e.g. `kill -9`) without giving the lease back."""

    host: Name = Field(description="The holder's machine: host name, boot id and pid namespace.")
    pid: NonNegative
    origin: DriverOrigin
    acquired_at: datetime
    heartbeat_at: datetime
    cancel_requested_at: datetime | None
    alive: bool = Field(
        description="Whether the holder still runs (same machine: its process; else a fresh heartbeat)."
    )


class DriverRecord(DriverPublic):
    """The lease as the store keeps it: also who exactly holds it."""

    search_id: int
    holder: ShortText = Field(description="A random id of the holding driver run.")
    started: int = Field(description="The holder process's start time (clock ticks since boot; 0: unknown).")


# -- the search request -----------------------------------------------------------------------------

Searcher = Literal["tpe", "random"]
MAX_CONFIRM_TOP = 20
MAX_CONFIRM_SEEDS = 10

# An image folder: the prefix and a path without control characters, within the column's length.
DATASET_PATTERN = (
    rf"^({re.escape(IMAGEFOLDER_PREFIX)}[^\x00-\x1f]{{1,{DATASET_LENGTH - len(IMAGEFOLDER_PREFIX)}}}"
    rf"|[A-Za-z0-9][A-Za-z0-9_.\-]{{0,{DATASET_LENGTH - 1}}})$"
)
PRESET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"


def _whole_number(value: object) -> object:
    """JSON Schema's integers include 3.0; otherwise strict (no true, no "3")."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# The request's numbers are strict: true is not 1 and "3" is not 3 (only 3.0 is, see _whole_number). The
# validator comes last, so the bounds stay plain `minimum` / `maximum` in the JSON schema.
_WHOLE = BeforeValidator(_whole_number)
Trials = Annotated[int, Strict(), Field(ge=1, le=100_000), _WHOLE]
Epochs = Annotated[int, Strict(), Field(ge=1, le=10_000), _WHOLE]
Size = Annotated[int, Strict(), Field(ge=1, le=MAX_INT32), _WHOLE]
Seed = Annotated[int, Strict(), Field(ge=0, le=MAX_INT32), _WHOLE]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]


class SearchRequest(BaseModel):
    """A search to run: `prs-search run`'s options, the body of `POST /v1/searches`, and what the API's
    launcher hands the process it starts. Give at most one of `fraction` and `num_samples` (neither: the
    whole training split); the name is generated unless given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    dataset: Annotated[str, Field(pattern=DATASET_PATTERN, max_length=DATASET_LENGTH)] = Field(
        description=f"{datasets_help()} (a folder on the server).",
        examples=[*list_datasets(), f"{IMAGEFOLDER_PREFIX}/srv/images/flowers"],
    )
    budget: Trials = Field(description="Number of trials.")
    fraction: Annotated[Number, Field(gt=0.0, le=1.0)] | None = None
    num_samples: Size | None = None
    # A path may be long: only the space's name (the file's stem) is stored.
    space: Annotated[str, StringConstraints(pattern=NOT_BLANK)] = Field(
        default="monotone", description="A search space: a built-in name, or a PATH.yaml."
    )
    epochs: Epochs = 10
    model: Annotated[str, Field(pattern=PRESET_PATTERN)] = RECIPE.model
    stem: Literal["conv", "patch"] = "conv"
    conv: ConvVariant | None = Field(
        default=None,
        description="The mixers' convolution: shift (dim/9 channels per tap) or dense; default: the preset's.",
    )
    gpus_per_trial: Annotated[Number, Field(ge=0.0, le=64.0)] = 0.0
    cpus_per_trial: Annotated[Number, Field(gt=0.0, le=1024.0)] = 1.0
    max_concurrent: Trials | None = None
    grace_period: Epochs | None = None
    reduction_factor: Annotated[int, Strict(), Field(ge=2, le=100), _WHOLE] = 3
    seed: Seed = 0
    compile: Annotated[bool, Strict()] = Field(default=False, description="torch.compile each block (pays on GPUs).")
    name: SearchName | None = Field(default=None, description="Default: DATASET-SIZE-SPACE-TIMESTAMP-RANDOM.")
    searcher: Searcher = Field(default="tpe", description="Optuna's sampler: tpe, or random (a baseline).")
    early_stopping: Annotated[bool, Strict()] = Field(default=True, description="ASHA stops trials early.")
    confirm_top: Annotated[int, Strict(), Field(ge=0, le=MAX_CONFIRM_TOP), _WHOLE] = Field(
        default=3, description="Finalists (the best complete trials) retrained with more seeds; 0: none."
    )
    confirm_seeds: Annotated[int, Strict(), Field(ge=0, le=MAX_CONFIRM_SEEDS), _WHOLE] = Field(
        default=2, description="Extra seeds each finalist and the PRS default are retrained with; 0: none."
    )

    @model_validator(mode="after")
    def _one_size(self) -> "SearchRequest":
        if self.fraction is not None and self.num_samples is not None:
            raise ValueError("give either fraction or num_samples, not both")
        return self


class SearchJob(SearchRequest):
    """A `SearchRequest` and where it runs: the results database, the folders, the Ray cluster."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str
    storage_path: Path  # Ray Tune's results (checkpoints)
    data_dir: Path
    ray_address: str | None = None
    resume: bool = False
    download: bool = False
    max_failures: int = 2
    origin: DriverOrigin = "cli"  # who started the driver: the API counts its own against PRS_API_MAX_SEARCHES
    parent_pid: int | None = None  # a driver the API started ends when this process (the API) is gone
