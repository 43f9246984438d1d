"""`ResultsStore`: the one interface the driver, the API and the CLI use to record and read results.

Every method takes keyword arguments only, runs one short transaction and returns frozen records
(`prs_search.schemas`), read from the rows with `model_validate`, never live ORM objects. Arguments are
checked against the same field types (`checked`): an invalid value, or an unknown search or trial,
raises `ConfigError`; an unreachable or broken database raises `StoreError`. Writes are idempotent
where the driver may repeat them (a trial resumed from a checkpoint starts and reports again), so
transient database failures are retried transparently.
"""

from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import Field, StrictInt, StrictStr, ValidationError
from sqlalchemy import URL, ColumnElement, Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from prs_search.errors import ConfigError, checked, describe_errors
from prs_search.field_types import (
    MAX_INT32,
    MAX_PAGE,
    DatasetName,
    JsonObject,
    NodeId,
    NonNegative,
    SearchStatusField,
    ShortText,
    SwitchEpochs,
    TrialState,
    TrialStateField,
    as_id,
)
from prs_search.schemas import EpochMetrics, EpochRecord, NewSearch, Record, SearchRecord, TrialRecord
from prs_search.store import dataset_versions, migrations, queries
from prs_search.store.answers import AnswersMixin
from prs_search.store.confirmations import ConfirmationsMixin
from prs_search.store.db import make_engine, run_transaction, safe_url, session_factory, writer
from prs_search.store.leases import LeasesMixin
from prs_search.store.models import EpochMetric, Search, Trial, utcnow
from prs_search.store.study_runs import StudyRunsMixin

T = TypeVar("T")
R = TypeVar("R", bound=Record)

Offset = Annotated[int, Field(ge=0)]
Limit = Annotated[int, Field(ge=1)]  # pages larger than MAX_PAGE are cut to it
SearchKey = StrictStr | StrictInt
# The columns an epoch report fills (all of `EpochMetrics`): a re-reported epoch replaces them.
EPOCH_COLUMNS = tuple(EpochMetrics.model_fields)


class ResultsStore(AnswersMixin, StudyRunsMixin, ConfirmationsMixin, LeasesMixin):
    """Searches, trials, per-epoch metrics and the best schedule per (dataset, num_samples).

    `ResultsStore(url)` connects and brings the tables up to date (`migrate=False` skips that, for
    readers that must not alter the schema). Safe to share between threads.
    """

    def __init__(self, url: str | URL, *, migrate: bool = True, retries: int = 3, backoff: float = 0.2) -> None:
        self._engine: Engine = make_engine(url)
        self._retries = retries
        self._backoff = backoff
        self._reader: sessionmaker[Session] = session_factory(queries.snapshot_reads(self._engine))
        self._writer: sessionmaker[Session] = session_factory(writer(self._engine))
        self._versions = dataset_versions.VersionReader(self._engine)
        self._async_versions = (
            dataset_versions.AsyncVersionReader(self._engine) if self._engine.dialect.name == "postgresql" else None
        )
        if migrate:
            try:
                migrations.upgrade(self._engine)
            except BaseException:
                self._engine.dispose()
                raise

    # -- plumbing ---------------------------------------------------------------------------------

    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def url(self) -> str:
        """The full URL (password included): pass it to `optuna.storages.RDBStorage`."""
        return self._engine.url.render_as_string(hide_password=False)

    @property
    def safe_url(self) -> str:
        """The URL with its password hidden, for logs and messages."""
        return safe_url(self._engine)

    def optuna_engine_kwargs(self) -> dict[str, Any]:
        """`engine_kwargs` for `optuna.storages.RDBStorage(store.url, engine_kwargs=...)` on this database."""
        if self._engine.dialect.name == "sqlite":
            return {"connect_args": {"timeout": 30.0}}
        return {"pool_pre_ping": True, "connect_args": {"connect_timeout": 10}}

    def dispose(self) -> None:
        """Close every pooled connection (the store can still be used: it reconnects)."""
        self._versions.close()
        self._engine.dispose()

    def __enter__(self) -> "ResultsStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.dispose()

    def __repr__(self) -> str:
        return f"ResultsStore({self.safe_url!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Picklable (e.g. sent to a Ray worker): the copy reconnects, without migrating again."""
        return {"url": self.url, "retries": self._retries, "backoff": self._backoff}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["url"], migrate=False, retries=state["retries"], backoff=state["backoff"])  # type: ignore[misc]

    def _read(self, work: Callable[[Session], T]) -> T:
        return run_transaction(self._reader, work, retries=self._retries, backoff=self._backoff)

    def _write(self, work: Callable[[Session], T], *, conflict: str | None = None) -> T:
        """`work` in a write transaction; with `conflict`, a uniqueness violation is that `ConfigError`."""
        try:
            return run_transaction(self._writer, work, retries=self._retries, backoff=self._backoff)
        except IntegrityError:
            if conflict is None:
                raise
            raise ConfigError(conflict) from None

    # -- searches ---------------------------------------------------------------------------------

    @checked
    def create_search(self, new: NewSearch) -> SearchRecord:
        """`new`, stored in status `pending`. A name already taken -> `ConfigError`."""
        taken = f"a search named {new.name!r} already exists; choose another name or resume it"

        def work(session: Session) -> SearchRecord:
            if Search.find_by_name(session, new.name) is not None:
                raise ConfigError(taken)
            row = Search(**new.model_dump(by_alias=True))  # the record's fields are the columns' names
            session.add(row)
            session.flush()
            dataset_versions.bump(session, new.dataset)
            return SearchRecord.model_validate(row)

        return self._write(work, conflict=taken)  # a concurrent create with the same name won the race

    @checked
    def get_search(self, *, name_or_id: SearchKey) -> SearchRecord | None:
        """By name, or by id (an int, or a string of ASCII digits). Digits are an id first: a name made of
        digits (refused for new searches, possible in older databases) is found only when no search has
        that id, so it never shadows another search. An id outside the id column's range is not found."""

        def work(session: Session) -> SearchRecord | None:
            row: Search | None = None
            if isinstance(name_or_id, str):
                search_id = as_id(name_or_id)
                if search_id is not None and search_id <= MAX_INT32:
                    row = Search.find_by_id(session, search_id)
                if row is None:
                    row = Search.find_by_name(session, name_or_id)
            elif 0 <= name_or_id <= MAX_INT32:
                row = Search.find_by_id(session, name_or_id)
            return _record(SearchRecord, row)

        return self._read(work)

    def dataset_version(self, *, dataset: str) -> int:
        """The version of `dataset`'s answers (`prs_search.store.dataset_versions`): one primary-key read on a
        connection kept for it, without the argument checks and retries of the other reads (the API asks it
        on every recommendation); an unreachable database -> `StoreError`."""
        return self._versions.read(dataset)

    async def dataset_version_async(self, *, dataset: str) -> int:
        """`dataset_version` for an event loop: never blocks it on PostgreSQL's network (psycopg's asyncio
        connection); on SQLite the read is a local file's and runs in place."""
        if self._async_versions is None:
            return self._versions.read(dataset)
        return await self._async_versions.read(dataset)

    @checked
    def set_search_status(self, *, search_id: int, status: SearchStatusField, error: str | None = None) -> SearchRecord:
        """Move a search to `status`; final states stamp `finished_at`, others clear it."""

        def work(session: Session) -> SearchRecord:
            row = queries.require_search(session, search_id, for_update=True)
            row.status = status.value
            row.error = error
            row.finished_at = utcnow() if status.is_final else None
            row.updated_at = utcnow()
            session.flush()
            dataset_versions.bump(session, row.dataset)
            return SearchRecord.model_validate(row)

        return self._write(work)

    @checked
    def list_searches(
        self,
        *,
        offset: Offset = 0,
        limit: Limit = 50,
        dataset: DatasetName | None = None,
        status: SearchStatusField | None = None,
    ) -> tuple[list[SearchRecord], int]:
        """Newest first, optionally only one dataset's and/or one status; returns (one page, total matching)."""
        where = []
        if dataset is not None:
            where.append(Search.dataset == dataset)
        if status is not None:
            where.append(Search.status == status.value)

        def work(session: Session) -> tuple[list[SearchRecord], int]:
            total = session.scalar(select(func.count(Search.id)).where(*where)) or 0
            page = select(Search).where(*where).order_by(Search.id.desc()).offset(offset).limit(min(limit, MAX_PAGE))
            return [SearchRecord.model_validate(r) for r in session.scalars(page)], total

        return self._read(work)

    # -- trials -----------------------------------------------------------------------------------

    @checked
    def start_trial(
        self,
        *,
        search_id: int,
        trial_key: ShortText,
        schedule: SwitchEpochs,
        params: JsonObject,
        optuna_number: NonNegative | None = None,
    ) -> TrialRecord:
        """Record that a trial (re)started. Idempotent on (search_id, trial_key): a repeat updates the
        row; a RUNNING or FAIL trial becomes RUNNING (a Ray retry), COMPLETE and PRUNED stay."""
        switch_epochs = list(schedule)

        def work(session: Session) -> TrialRecord:
            dataset_versions.bump(
                session, queries.require_search(session, search_id).dataset
            )  # the trial count changes
            first = {
                "search_id": search_id, "trial_key": trial_key, "optuna_number": optuna_number,
                "schedule": switch_epochs, "params": params, "state": TrialState.RUNNING.value, "epochs_run": 0,
                "seconds": 0.0, "started_at": utcnow(),
            }  # fmt: skip
            queries.upsert(session, Trial, first, conflict=("search_id", "trial_key"), update=None)
            row = queries.require_trial(session, search_id, trial_key, for_update=True)
            row.schedule = switch_epochs
            row.params = params
            if optuna_number is not None:
                row.optuna_number = optuna_number
            if row.state in (TrialState.RUNNING, TrialState.FAIL):
                row.state = TrialState.RUNNING.value
                row.finished_at = None
                row.error = None
            session.flush()
            return TrialRecord.model_validate(row)

        return self._write(work, conflict=f"optuna trial number {optuna_number} is already used in search {search_id}")

    @checked
    def record_epoch(
        self, *, search_id: int, trial_key: ShortText, epoch: NonNegative, metrics: Mapping[str, Any]
    ) -> None:
        """Store one epoch's metrics (re-reporting an epoch replaces its row) and refresh the trial's
        aggregates from all its epoch rows: val_acc of its latest epoch, best val_acc, epochs_run =
        latest epoch + 1, seconds = sum, flops = sum (None unless every epoch was counted). `metrics` is a
        mapping (e.g. a Ray result) with the fields of `EpochMetrics` (val_acc required; attention_layers
        defaults to what the trial's schedule says); other keys are ignored, non-finite losses are stored
        as NULL."""
        try:
            values = EpochMetrics.model_validate(metrics).model_dump()
        except ValidationError as exc:
            raise ConfigError(f"epoch metrics: {describe_errors(exc)}") from None

        def work(session: Session) -> None:
            trial = queries.require_trial(session, search_id, trial_key, for_update=True)
            row = dict(values)
            if row["attention_layers"] is None:
                row["attention_layers"] = sum(1 for e in trial.schedule if epoch >= e)
            row.update(trial_id=trial.id, epoch=epoch, recorded_at=utcnow())
            queries.upsert(
                session, EpochMetric, row, conflict=("trial_id", "epoch"), update=(*EPOCH_COLUMNS, "recorded_at")
            )
            queries.refresh_trial_aggregates(session, trial)
            if trial.state == TrialState.COMPLETE:  # a finished trial's accuracy is the cross-size model's data
                dataset_versions.bump_search(session, search_id)

        self._write(work)

    @checked
    def finish_trial(
        self, *, search_id: int, trial_key: ShortText, state: TrialStateField, error: str | None = None
    ) -> TrialRecord:
        """Mark a trial COMPLETE, PRUNED or FAIL (again: updates it)."""
        if not state.is_finished:
            raise ConfigError("finish_trial needs a final state: COMPLETE, PRUNED or FAIL")

        def work(session: Session) -> TrialRecord:
            row = queries.require_trial(session, search_id, trial_key, for_update=True)
            if row.state != state.value or row.finished_at is None:
                row.finished_at = utcnow()
            row.state = state.value
            row.error = error
            session.flush()
            dataset_versions.bump_search(session, search_id)
            return TrialRecord.model_validate(row)

        return self._write(work)

    @checked
    def set_trial_runtime(
        self,
        *,
        search_id: int,
        trial_key: ShortText,
        ray_trial_id: ShortText | None = None,
        checkpoint_path: str | None = None,
        node_id: NodeId | None = None,
    ) -> TrialRecord:
        """Record which Ray trial runs this trial now, where its latest checkpoint is, and/or on which
        Ray node it runs (an argument left out keeps what is stored)."""

        def work(session: Session) -> TrialRecord:
            row = queries.require_trial(session, search_id, trial_key, for_update=True)
            if ray_trial_id is not None:
                row.ray_trial_id = ray_trial_id
            if checkpoint_path is not None:
                row.checkpoint_path = checkpoint_path
            if node_id is not None:
                row.node_id = node_id
            session.flush()
            return TrialRecord.model_validate(row)

        return self._write(work)

    @checked
    def get_trial(self, *, trial_id: int) -> TrialRecord | None:
        return self._read(lambda session: _record(TrialRecord, session.get(Trial, trial_id)))

    @checked
    def find_trial(self, *, search_id: int, trial_key: str) -> TrialRecord | None:
        return self._read(lambda session: _record(TrialRecord, Trial.find(session, search_id, trial_key)))

    @checked
    def list_trials(
        self, *, search_id: int, offset: Offset = 0, limit: Limit = 100, state: TrialStateField | None = None
    ) -> tuple[list[TrialRecord], int]:
        """In the order they started (id); returns (one page, total matching)."""
        where = _trials_of(search_id, state)

        def work(session: Session) -> tuple[list[TrialRecord], int]:
            total = session.scalar(select(func.count(Trial.id)).where(*where)) or 0
            page = select(Trial).where(*where).order_by(Trial.id).offset(offset).limit(min(limit, MAX_PAGE))
            return [TrialRecord.model_validate(r) for r in session.scalars(page)], total

        return self._read(work)

    @checked
    def all_trials(self, *, search_id: int, state: TrialStateField | None = None) -> list[TrialRecord]:
        """Every trial of a search (optionally of one state), in the order they started, from one snapshot:
        for what needs them all at once (the accuracy-compute front, the report); lists page instead."""
        stmt = select(Trial).where(*_trials_of(search_id, state)).order_by(Trial.id)
        return self._read(lambda session: [TrialRecord.model_validate(r) for r in session.scalars(stmt)])

    @checked
    def epoch_metrics(self, *, trial_id: int) -> list[EpochRecord]:
        """A trial's epochs in order (empty for an unknown trial)."""
        return self._read(
            lambda session: [EpochRecord.model_validate(r) for r in EpochMetric.for_trial(session, trial_id)]
        )

    @checked
    def trial_counts(self, *, search_id: int) -> dict[TrialState, int]:
        """Number of trials in each state (every state present, zeros included)."""

        def work(session: Session) -> dict[TrialState, int]:
            counts = dict.fromkeys(TrialState, 0)
            rows = session.execute(
                select(Trial.state, func.count(Trial.id)).where(Trial.search_id == search_id).group_by(Trial.state)
            )
            for state, count in rows:
                counts[TrialState(state)] = count
            return counts

        return self._read(work)

    @checked
    def best_trial(self, *, search_id: int) -> TrialRecord | None:
        """The COMPLETE trial with the highest final val_acc; ties: fewer seconds, then lower id.

        Final, not best-epoch, accuracy: it is the search's objective and the model that is evaluated.
        """
        return self._read(lambda session: _record(TrialRecord, queries.best_trial(session, search_id)))


def _trials_of(search_id: int, state: TrialState | None) -> list[ColumnElement[bool]]:
    return [Trial.search_id == search_id, *([Trial.state == state.value] if state is not None else [])]


def _record(kind: type[R], row: object | None) -> R | None:
    """The record of a row that may not exist."""
    return None if row is None else kind.model_validate(row)
