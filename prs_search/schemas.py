"""One typed record per entity (search, trial, epoch, best schedule, study run), shared by the store, the
API and the CLI. The search request they all pass on is `prs_search.search_request`.

Records are frozen pydantic models built from the `Annotated` types of `prs_search.field_types`, whose
length and range limits the SQL columns use too (`prs_search.store.models`). The store returns records
with `Record.model_validate(row, from_attributes=True)` and checks its arguments with the same types
(`prs_search.errors.checked`); the API answers with them, or with thin subclasses that add OpenAPI
examples; the CLI prints them.

Where the API shows less than the store keeps, the record extends the public model (`TrialPublic` ->
`TrialRecord`), as the FastAPI template's `XPublic` does. Adding a field to a search: docs/DESIGN.md.

Nothing here imports torch or Ray: the API lists search spaces and validates requests without them.
"""

from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)

from prs_search.field_types import (
    Count,
    DatasetName,
    DriverOrigin,
    Finite,
    Flops,
    Fraction,
    JsonObject,
    Measured,
    Name,
    NodeId,
    NonNegative,
    SearchName,
    SearchStatusField,
    Seconds,
    ShortText,
    StemName,
    StudyRunStatus,
    SwitchEpochs,
    TrialStateField,
)
from prs_search.recipe import ConvVariant

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


class WarmStart(Record):
    """How a search was warm-started: the schedules the cross-size model put first, and what it knew."""

    schedules: tuple[SwitchEpochs, ...] = Field(description="Enqueued as the first trials, in this order.")
    predicted_val_acc: tuple[Finite, ...] = Field(description="The model's expected validation accuracy of each.")
    sizes: tuple[Count, ...] = Field(description="The searched sizes the model was fitted on.")
    runs: Count = Field(description="Finished trials and re-evaluation runs the model was fitted on.")


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
    warm_started: WarmStart | None = Field(default=None, description="None: not warm-started.")


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
    flops: Flops | None = Field(
        default=None, description="Training FLOPs counted over its epochs (forward and backward; None: not counted)."
    )
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

    mode: Annotated[StemName, Field(description="conv or attention")]
    attention_distance: Measured = None
    tap_mass: Measured = Field(default=None, description="Attention mass on the convolution's tap (None for conv).")


class EpochValues(Record):
    """What a trial measures in one epoch."""

    val_acc: Finite
    val_loss: Measured = None
    train_loss: Measured = None
    train_acc: Measured = None
    seconds: Seconds = 0.0
    flops: Flops | None = Field(default=None, description="Training FLOPs of the epoch (forward and backward).")
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
    flops: Flops | None = None
    checkpoint_path: str | None = None
    error: str | None = None
    created_at: datetime


class FinishedRunRecord(Record):
    """One finished training run of a schedule at a search's size: a trial that ran all its epochs, or a
    re-evaluation run at another seed. What the cross-size model (`prs_search.surrogate`) is fitted on."""

    search_id: int
    num_samples: Count
    schedule: SwitchEpochs
    val_acc: Finite
    source: Literal["trial", "rerun"] = Field(description="A search trial, or a re-evaluation run.")


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
