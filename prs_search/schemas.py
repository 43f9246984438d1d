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
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

import pydantic_core
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from prs_search.errors import NOT_BLANK, Label
from prs_search.recipe import ConvVariant

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


class _SearchAsked(Record):
    """What a search is of: the data, the space and budget, the model, the seed, its Optuna study."""

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
    study_name: Name = Field(description="The Optuna study (same database; open it in optuna-dashboard).")
    val_size: Count | None = Field(
        default=None, description="Validation images the search tuned on (older searches: not recorded)."
    )


class _SearchSettings(Record):
    """How a search runs (None: recorded before the field existed)."""

    space_config: JsonObject
    sampler: ShortText | None = Field(default=None, description="Optuna's sampler (older searches: tpe).")
    early_stopping: bool | None = None
    confirm_top: NonNegative | None = None
    confirm_seeds: NonNegative | None = None
    # `model_config` is pydantic's own name: the field is `architecture`, spelled `model_config` outside.
    architecture: JsonObject = Field(alias="model_config", description="The model's settings (depth, dim, ...).")
    ray_address: Name | None = None


class NewSearch(_SearchAsked, _SearchSettings):
    """A search as its driver resolved it from a `SearchRequest`: what `ResultsStore.create_search` takes,
    whole. A request field that a search keeps is a field here of the same name (see docs/DESIGN.md)."""

    # What a continued search must have been asked with again (the rest may change between runs).
    SAME_ON_RESUME: ClassVar[tuple[str, ...]] = (
        "dataset", "num_samples", "budget", "epochs", "model", "stem", "seed", "space", "sampler", "early_stopping",
    )  # fmt: skip

    # A new name may not read as an id; an older database may hold one that does (the id wins on lookup).
    name: SearchName
    storage_path: str | None = None  # the Ray results folder: the server's business, not the API's


class SearchPublic(_SearchAsked):
    """One search, as lists show it: what was searched (dataset, size, space, budget, model) and how it went."""

    id: int
    status: SearchStatusField
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    test_acc: Finite | None
    test_trial_id: int | None
    error: str | None


class SearchDetail(SearchPublic, _SearchSettings):
    """One search with the settings it ran with."""


class SearchRecord(SearchDetail, NewSearch):
    """Everything the store keeps about a search: the new search, stored, and how it went."""


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
