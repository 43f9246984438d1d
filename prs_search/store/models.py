"""Table models of the results store (SQLAlchemy 2.0 declarative, one file).

Every table is prefixed `prs_` so it never clashes with optuna's RDBStorage tables, which live in the
same database. Uniqueness that the store relies on (one trial per Ray trial id, one row per trial
epoch, one best schedule per dataset size) is enforced by the database, not only by the code.
Constraint names follow `NAMING_CONVENTION`, so migrations can address them on every backend. Column
lengths are the limits `prs_search.schemas` checks: a value the schema admits always fits its column.
"""

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, get_args

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from prs_search.field_types import (
    DATASET_LENGTH,
    LABEL_LENGTH,
    NAME_LENGTH,
    NODE_ID_LENGTH,
    STATUS_LENGTH,
    STEM_LENGTH,
    DriverOrigin,
    SearchStatus,
    StudyRunStatus,
    TrialState,
)

TABLE_PREFIX = "prs_"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores no offset: it is added back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps timezone-aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: type[StrEnum] | tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[int]: JSON(),
        list[dict[str, Any]]: JSON(none_as_null=True),  # None is SQL NULL (missing), not JSON null
    }


class Search(Base):
    """One search: a dataset size, a search space and a budget of trials."""

    __tablename__ = "prs_searches"
    __table_args__ = (CheckConstraint(_in("status", SearchStatus), name="status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH), unique=True)
    dataset: Mapped[str] = mapped_column(String(DATASET_LENGTH), index=True)
    num_samples: Mapped[int]
    fraction: Mapped[float | None] = mapped_column(Float)
    space: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    space_config: Mapped[dict[str, Any]]
    budget: Mapped[int]
    epochs: Mapped[int]
    model: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    model_config: Mapped[dict[str, Any]]
    stem: Mapped[str] = mapped_column(String(STEM_LENGTH))
    seed: Mapped[int]
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH), default=SearchStatus.PENDING.value)
    study_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    storage_path: Mapped[str | None] = mapped_column(Text)
    ray_address: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
    val_size: Mapped[int | None]
    sampler: Mapped[str | None] = mapped_column(String(LABEL_LENGTH))
    early_stopping: Mapped[bool | None]
    confirm_top: Mapped[int | None]
    confirm_seeds: Mapped[int | None]
    test_acc: Mapped[float | None] = mapped_column(Float)
    test_trial_id: Mapped[int | None] = mapped_column(ForeignKey("prs_trials.id", ondelete="SET NULL", use_alter=True))
    error: Mapped[str | None] = mapped_column(Text)
    # The schedules enqueued from the cross-size model as the first trials (NULL: not warm-started).
    warm_started: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))

    trials: Mapped[list["Trial"]] = relationship(
        back_populates="search", foreign_keys="Trial.search_id", passive_deletes=True
    )

    @classmethod
    def find_by_name(cls, session: Session, name: str) -> "Search | None":
        return session.scalars(select(cls).where(cls.name == name)).one_or_none()

    @classmethod
    def find_by_id(cls, session: Session, search_id: int, *, for_update: bool = False) -> "Search | None":
        stmt = select(cls).where(cls.id == search_id)
        if for_update:
            stmt = stmt.with_for_update()
        return session.scalars(stmt).one_or_none()


class Trial(Base):
    """One trial of a search: a schedule trained once.

    `trial_key` is stable across resumes (the search uses the Optuna trial number); `ray_trial_id` is
    the Ray trial currently running it and `checkpoint_path` its latest persisted checkpoint.
    """

    __tablename__ = "prs_trials"
    __table_args__ = (
        UniqueConstraint("search_id", "trial_key"),
        UniqueConstraint("search_id", "optuna_number"),
        CheckConstraint(_in("state", TrialState), name="state"),
        Index("ix_prs_trials_search_id_state", "search_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("prs_searches.id", ondelete="CASCADE"), index=True)
    trial_key: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    optuna_number: Mapped[int | None]
    schedule: Mapped[list[int]]
    params: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(STATUS_LENGTH), default=TrialState.RUNNING.value)
    val_acc: Mapped[float | None] = mapped_column(Float)
    best_val_acc: Mapped[float | None] = mapped_column(Float)
    epochs_run: Mapped[int] = mapped_column(default=0, server_default="0")
    seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    # Training FLOPs counted over its epochs (NULL: recorded before 0009, or an epoch without a count).
    flops: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    ray_trial_id: Mapped[str | None] = mapped_column(String(LABEL_LENGTH))
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    # The Ray node that ran the trial's latest epoch (a retry or a resume may move it).
    node_id: Mapped[str | None] = mapped_column(String(NODE_ID_LENGTH))

    search: Mapped[Search] = relationship(back_populates="trials", foreign_keys=[search_id])
    epoch_metrics: Mapped[list["EpochMetric"]] = relationship(
        back_populates="trial", order_by="EpochMetric.epoch", passive_deletes=True
    )

    @classmethod
    def find(cls, session: Session, search_id: int, trial_key: str, *, for_update: bool = False) -> "Trial | None":
        stmt = select(cls).where(cls.search_id == search_id, cls.trial_key == trial_key)
        if for_update:
            stmt = stmt.with_for_update()
        return session.scalars(stmt).one_or_none()


class EpochMetric(Base):
    """Metrics of one epoch of one trial; re-reporting an epoch updates its row."""

    __tablename__ = "prs_epoch_metrics"
    __table_args__ = (UniqueConstraint("trial_id", "epoch"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("prs_trials.id", ondelete="CASCADE"), index=True)
    epoch: Mapped[int]
    val_acc: Mapped[float] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    train_acc: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    lr: Mapped[float | None] = mapped_column(Float)
    flops: Mapped[float | None] = mapped_column(Float)  # forward + backward of the epoch's training steps
    attention_layers: Mapped[int]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Per-layer statistics (mode, attention distance, tap mass); NULL for epochs recorded before 0004.
    layers: Mapped[list[dict[str, Any]] | None]

    trial: Mapped[Trial] = relationship(back_populates="epoch_metrics")

    @classmethod
    def for_trial(cls, session: Session, trial_id: int) -> "list[EpochMetric]":
        return list(session.scalars(select(cls).where(cls.trial_id == trial_id).order_by(cls.epoch)))


class BestSchedule(Base):
    """The best schedule known for one (dataset, num_samples), across all searches."""

    __tablename__ = "prs_best_schedules"
    __table_args__ = (UniqueConstraint("dataset", "num_samples"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(String(DATASET_LENGTH))
    num_samples: Mapped[int]
    search_id: Mapped[int] = mapped_column(ForeignKey("prs_searches.id", ondelete="CASCADE"), index=True)
    # NULL when the PRS default, which no search trial ran to the end, won the finalists' re-evaluation.
    trial_id: Mapped[int | None] = mapped_column(ForeignKey("prs_trials.id", ondelete="CASCADE"), index=True)
    schedule: Mapped[list[int]]
    epochs: Mapped[int]
    model: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    stem: Mapped[str] = mapped_column(String(STEM_LENGTH))
    val_acc: Mapped[float] = mapped_column(Float)
    test_acc: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The finalists' re-evaluation: the interval over seeds and the paired advantage over the PRS default.
    seeds: Mapped[int | None]
    val_low: Mapped[float | None] = mapped_column(Float)
    val_high: Mapped[float | None] = mapped_column(Float)
    baseline_schedule: Mapped[list[int] | None] = mapped_column(JSON(none_as_null=True))
    advantage: Mapped[float | None] = mapped_column(Float)
    advantage_low: Mapped[float | None] = mapped_column(Float)
    advantage_high: Mapped[float | None] = mapped_column(Float)

    search: Mapped[Search] = relationship()

    @property
    def search_name(self) -> str:
        """The name of the search it came from (a field of `BestScheduleRecord`)."""
        return self.search.name

    @classmethod
    def find(
        cls, session: Session, dataset: str, num_samples: int, *, for_update: bool = False
    ) -> "BestSchedule | None":
        stmt = select(cls).where(cls.dataset == dataset, cls.num_samples == num_samples)
        if for_update:
            stmt = stmt.with_for_update()
        return session.scalars(stmt).one_or_none()


class StudyRun(Base):
    """One training run of a study (e.g. `prs-search study data-scale`): a fixed schedule at one dataset
    size and seed, with its validation and test accuracy. Runs are not trials of a search: nothing here
    chooses a schedule, so the test accuracy is only reported."""

    __tablename__ = "prs_study_runs"
    __table_args__ = (
        # A study re-run under the same name skips the runs it already has, so a run is one row.
        UniqueConstraint("study", "num_samples", "schedule_label", "seed"),
        CheckConstraint(_in("status", get_args(StudyRunStatus)), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    study: Mapped[str] = mapped_column(String(NAME_LENGTH))
    dataset: Mapped[str] = mapped_column(String(DATASET_LENGTH), index=True)
    fraction: Mapped[float | None] = mapped_column(Float)
    num_samples: Mapped[int]
    schedule_label: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    schedule: Mapped[list[int]]
    epochs: Mapped[int]
    model: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    stem: Mapped[str] = mapped_column(String(STEM_LENGTH))
    conv: Mapped[str | None] = mapped_column(String(STEM_LENGTH))
    seed: Mapped[int]
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    val_acc: Mapped[float] = mapped_column(Float)
    test_acc: Mapped[float | None] = mapped_column(Float)
    train_acc: Mapped[float | None] = mapped_column(Float)
    fourier: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConfirmationRun(Base):
    """One re-evaluation run after a search's budget: a finalist, or the PRS default, at one seed.

    Not a trial: nothing here is suggested by Optuna or counted against the budget, and TPE never sees
    these values (they are recorded in the study's user attributes only)."""

    __tablename__ = "prs_confirmation_runs"
    __table_args__ = (
        UniqueConstraint("search_id", "candidate", "seed"),  # a resumed re-evaluation skips what it has
        CheckConstraint("role IN ('finalist', 'baseline')", name="role"),
        CheckConstraint("state IN ('COMPLETE', 'FAIL')", name="state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("prs_searches.id", ondelete="CASCADE"), index=True)
    candidate: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    role: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    source_trial_id: Mapped[int | None] = mapped_column(ForeignKey("prs_trials.id", ondelete="SET NULL"))
    schedule: Mapped[list[int]]
    params: Mapped[dict[str, Any]]
    seed: Mapped[int]
    reused: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    val_acc: Mapped[float | None] = mapped_column(Float)
    epochs_run: Mapped[int] = mapped_column(default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    flops: Mapped[float | None] = mapped_column(Float)
    checkpoint_path: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @classmethod
    def for_search(cls, session: Session, search_id: int) -> "list[ConfirmationRun]":
        stmt = select(cls).where(cls.search_id == search_id).order_by(cls.candidate, cls.seed)
        return list(session.scalars(stmt))


class DriverLease(Base):
    """The driver running a search: at most one row, so at most one driver, per search.

    A driver takes the row before it runs a trial and deletes it when it stops; one that died leaves it
    behind, and the next driver takes it over only once the holder is provably gone (its process no
    longer exists on this machine, or, from another machine, its heartbeat is older than the lease's
    time to live). `cancel_requested_at` is how `DELETE /v1/searches/{name}` asks the holder to stop.
    """

    __tablename__ = "prs_driver_leases"
    __table_args__ = (CheckConstraint(_in("origin", get_args(DriverOrigin)), name="origin"),)

    search_id: Mapped[int] = mapped_column(ForeignKey("prs_searches.id", ondelete="CASCADE"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    host: Mapped[str] = mapped_column(String(NAME_LENGTH))
    pid: Mapped[int]
    started: Mapped[int] = mapped_column(BigInteger)
    origin: Mapped[str] = mapped_column(String(STATUS_LENGTH))
    acquired_at: Mapped[datetime]
    heartbeat_at: Mapped[datetime]
    cancel_requested_at: Mapped[datetime | None]


class DatasetVersion(Base):
    """A counter per dataset that every write which can change its recommendation increments (in the
    same transaction): the API caches answers keyed on it, so every API worker sees a change at once."""

    __tablename__ = "prs_dataset_versions"

    dataset: Mapped[str] = mapped_column(String(DATASET_LENGTH), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
