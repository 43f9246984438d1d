"""`ResultsStore`: the one interface the driver, the API and the CLI use to record and read results.

Every method runs one short transaction and returns plain frozen records (`records.py`), never live
ORM objects. Writes are idempotent where the driver may repeat them (a trial resumed from a
checkpoint starts and reports again), so transient database failures are retried transparently.
Unknown searches or trials and invalid values raise `ConfigError`; an unreachable or broken
database raises `StoreError`.
"""

import json
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from prs_search.errors import ConfigError, StoreError
from prs_search.store import migrations
from prs_search.store.db import make_engine, run_transaction, safe_url, session_factory, writer
from prs_search.store.models import BestSchedule, EpochMetric, Search, StudyRun, Trial, utcnow
from prs_search.store.records import (
    BestScheduleRecord,
    DatasetSummary,
    EpochRecord,
    SearchRecord,
    SearchStatus,
    StudyRunRecord,
    TrialRecord,
    TrialState,
)

T = TypeVar("T")

EPOCH_METRICS = ("val_acc", "val_loss", "train_loss", "train_acc", "seconds", "lr", "attention_layers")
MAX_PAGE = 1000
MAX_ID = 2**31 - 1  # ids are INTEGER columns (32-bit on PostgreSQL)


class ResultsStore:
    """Searches, trials, per-epoch metrics and the best schedule per (dataset, num_samples).

    `ResultsStore(url)` connects and brings the tables up to date (`migrate=False` skips that, for
    readers that must not alter the schema). Safe to share between threads.
    """

    def __init__(self, url: str | URL, *, migrate: bool = True, retries: int = 3, backoff: float = 0.2) -> None:
        self._engine: Engine = make_engine(url)
        self._retries = retries
        self._backoff = backoff
        self._reader: sessionmaker[Session] = session_factory(_snapshot_reads(self._engine))
        self._writer: sessionmaker[Session] = session_factory(writer(self._engine))
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

    def _write(self, work: Callable[[Session], T]) -> T:
        return run_transaction(self._writer, work, retries=self._retries, backoff=self._backoff)

    # -- searches ---------------------------------------------------------------------------------

    def create_search(
        self,
        name: str,
        dataset: str,
        num_samples: int,
        fraction: float | None,
        space: str,
        space_config: Mapping[str, Any],
        budget: int,
        epochs: int,
        model: str,
        model_config: Mapping[str, Any],
        stem: str,
        seed: int,
        study_name: str,
        storage_path: str | None = None,
        ray_address: str | None = None,
    ) -> SearchRecord:
        """A new search in status `pending`. A name already taken -> `ConfigError`."""
        fields: dict[str, Any] = dict(
            name=_text("name", name, 255),
            dataset=_text("dataset", dataset, 128),
            num_samples=_int("num_samples", num_samples, minimum=1),
            fraction=None if fraction is None else _float("fraction", fraction),
            space=_text("space", space, 128),
            space_config=_json_object("space_config", space_config),
            budget=_int("budget", budget, minimum=1),
            epochs=_int("epochs", epochs, minimum=1),
            model=_text("model", model, 128),
            model_config=_json_object("model_config", model_config),
            stem=_text("stem", stem, 32),
            seed=_int("seed", seed),
            status=SearchStatus.PENDING.value,
            study_name=_text("study_name", study_name, 255),
            storage_path=None if storage_path is None else str(storage_path),
            ray_address=None if ray_address is None else _text("ray_address", ray_address, 255),
        )
        taken = f"a search named {name!r} already exists; choose another name or resume it"

        def work(session: Session) -> SearchRecord:
            if Search.find_by_name(session, name) is not None:
                raise ConfigError(taken)
            row = Search(**fields)
            session.add(row)
            session.flush()
            return _search_record(row)

        try:
            return self._write(work)
        except IntegrityError:  # a concurrent create with the same name won the race
            raise ConfigError(taken) from None

    def get_search(self, name_or_id: str | int) -> SearchRecord | None:
        """By name, or by id (an int, or a string of ASCII digits that is not some search's name); an
        id outside the id column's range is simply not found."""

        def work(session: Session) -> SearchRecord | None:
            row: Search | None = None
            if isinstance(name_or_id, str):
                row = Search.find_by_name(session, name_or_id)
                digits = name_or_id.strip()
                if row is None and digits.isascii() and digits.isdigit() and int(digits) <= MAX_ID:
                    row = Search.find_by_id(session, int(digits))
            elif isinstance(name_or_id, int) and not isinstance(name_or_id, bool):
                row = Search.find_by_id(session, name_or_id) if 0 <= name_or_id <= MAX_ID else None
            else:
                raise ConfigError(f"a search is named by its name or id, got {name_or_id!r}")
            return None if row is None else _search_record(row)

        return self._read(work)

    def set_search_status(self, search_id: int, status: SearchStatus | str, error: str | None = None) -> SearchRecord:
        """Move a search to `status`; final states stamp `finished_at`, others clear it."""
        new = _enum(SearchStatus, status, "search status")

        def work(session: Session) -> SearchRecord:
            row = _require_search(session, search_id, for_update=True)
            row.status = new.value
            row.error = error
            row.finished_at = utcnow() if new.is_final else None
            row.updated_at = utcnow()
            session.flush()
            return _search_record(row)

        return self._write(work)

    def list_searches(
        self,
        offset: int = 0,
        limit: int = 50,
        *,
        dataset: str | None = None,
        status: SearchStatus | str | None = None,
    ) -> tuple[list[SearchRecord], int]:
        """Newest first, optionally only one dataset's and/or one status; returns (one page, total matching)."""
        offset, limit = _page(offset, limit)
        where = []
        if dataset is not None:
            where.append(Search.dataset == _text("dataset", dataset, 128))
        if status is not None:
            where.append(Search.status == _enum(SearchStatus, status, "search status").value)

        def work(session: Session) -> tuple[list[SearchRecord], int]:
            total = session.scalar(select(func.count(Search.id)).where(*where)) or 0
            rows = session.scalars(select(Search).where(*where).order_by(Search.id.desc()).offset(offset).limit(limit))
            return [_search_record(r) for r in rows], total

        return self._read(work)

    # -- trials -----------------------------------------------------------------------------------

    def start_trial(
        self,
        search_id: int,
        trial_key: str,
        schedule: Sequence[int],
        params: Mapping[str, Any],
        optuna_number: int | None = None,
    ) -> TrialRecord:
        """Record that a trial (re)started. Idempotent on (search_id, trial_key): a repeat updates the
        row; a RUNNING or FAIL trial becomes RUNNING (a Ray retry), COMPLETE and PRUNED stay."""
        key = _text("trial_key", trial_key, 128)
        switch_epochs = _schedule(schedule)
        params_json = _json_object("params", params)
        number = None if optuna_number is None else _int("optuna_number", optuna_number, minimum=0)

        def work(session: Session) -> TrialRecord:
            _require_search(session, search_id)
            _upsert(
                session,
                Trial,
                {
                    "search_id": search_id,
                    "trial_key": key,
                    "optuna_number": number,
                    "schedule": switch_epochs,
                    "params": params_json,
                    "state": TrialState.RUNNING.value,
                    "epochs_run": 0,
                    "seconds": 0.0,
                    "started_at": utcnow(),
                },
                conflict=("search_id", "trial_key"),
                update=None,
            )
            row = _require_trial(session, search_id, key, for_update=True)
            row.schedule = switch_epochs
            row.params = params_json
            if number is not None:
                row.optuna_number = number
            if row.state in (TrialState.RUNNING, TrialState.FAIL):
                row.state = TrialState.RUNNING.value
                row.finished_at = None
                row.error = None
            session.flush()
            return _trial_record(row)

        return self._write_unique(work, f"optuna trial number {optuna_number} is already used in search {search_id}")

    def record_epoch(self, search_id: int, trial_key: str, epoch: int, metrics: Mapping[str, Any]) -> None:
        """Store one epoch's metrics (re-reporting an epoch replaces its row) and refresh the trial's
        aggregates from all its epoch rows: val_acc of its latest epoch, best val_acc, epochs_run =
        latest epoch + 1, seconds = sum. Keys used from `metrics`: val_acc (required), val_loss,
        train_loss, train_acc, seconds, lr, attention_layers (default: from the trial's schedule);
        other keys are ignored. Non-finite losses are stored as NULL."""
        epoch = _int("epoch", epoch, minimum=0)
        key = _text("trial_key", trial_key, 128)
        values = _epoch_values(metrics)

        def work(session: Session) -> None:
            trial = _require_trial(session, search_id, key, for_update=True)
            row = dict(values)
            if row.get("attention_layers") is None:
                row["attention_layers"] = sum(1 for e in trial.schedule if epoch >= e)
            row.update(trial_id=trial.id, epoch=epoch, recorded_at=utcnow())
            _upsert(
                session,
                EpochMetric,
                row,
                conflict=("trial_id", "epoch"),
                update=(*EPOCH_METRICS, "recorded_at"),
            )
            last_epoch, seconds, best = session.execute(
                select(func.max(EpochMetric.epoch), func.sum(EpochMetric.seconds), func.max(EpochMetric.val_acc)).where(
                    EpochMetric.trial_id == trial.id
                )
            ).one()
            last_acc = session.scalar(
                select(EpochMetric.val_acc).where(EpochMetric.trial_id == trial.id, EpochMetric.epoch == last_epoch)
            )
            trial.val_acc = last_acc
            trial.best_val_acc = best
            trial.epochs_run = int(last_epoch) + 1
            trial.seconds = float(seconds or 0.0)

        self._write(work)

    def finish_trial(
        self, search_id: int, trial_key: str, state: TrialState | str, error: str | None = None
    ) -> TrialRecord:
        """Mark a trial COMPLETE, PRUNED or FAIL (again: updates it)."""
        new = _enum(TrialState, state, "trial state")
        if not new.is_finished:
            raise ConfigError("finish_trial needs a final state: COMPLETE, PRUNED or FAIL")
        key = _text("trial_key", trial_key, 128)

        def work(session: Session) -> TrialRecord:
            row = _require_trial(session, search_id, key, for_update=True)
            if row.state != new.value or row.finished_at is None:
                row.finished_at = utcnow()
            row.state = new.value
            row.error = error
            session.flush()
            return _trial_record(row)

        return self._write(work)

    def set_trial_runtime(
        self,
        search_id: int,
        trial_key: str,
        *,
        ray_trial_id: str | None = None,
        checkpoint_path: str | None = None,
        node_id: str | None = None,
    ) -> TrialRecord:
        """Record which Ray trial runs this trial now, where its latest checkpoint is, and/or on which
        Ray node it runs."""
        key = _text("trial_key", trial_key, 128)
        node = None if node_id is None else _text("node_id", node_id, 64)

        def work(session: Session) -> TrialRecord:
            row = _require_trial(session, search_id, key, for_update=True)
            if ray_trial_id is not None:
                row.ray_trial_id = ray_trial_id
            if checkpoint_path is not None:
                row.checkpoint_path = checkpoint_path
            if node is not None:
                row.node_id = node
            session.flush()
            return _trial_record(row)

        return self._write(work)

    def get_trial(self, trial_id: int) -> TrialRecord | None:
        def work(session: Session) -> TrialRecord | None:
            row = session.get(Trial, trial_id)
            return None if row is None else _trial_record(row)

        return self._read(work)

    def find_trial(self, search_id: int, trial_key: str) -> TrialRecord | None:
        def work(session: Session) -> TrialRecord | None:
            row = Trial.find(session, search_id, trial_key)
            return None if row is None else _trial_record(row)

        return self._read(work)

    def list_trials(
        self, search_id: int, offset: int = 0, limit: int = 100, state: TrialState | str | None = None
    ) -> tuple[list[TrialRecord], int]:
        """In the order they started (id); returns (one page, total matching)."""
        offset, limit = _page(offset, limit)
        wanted = None if state is None else _enum(TrialState, state, "trial state")

        def work(session: Session) -> tuple[list[TrialRecord], int]:
            where = [Trial.search_id == search_id]
            if wanted is not None:
                where.append(Trial.state == wanted.value)
            total = session.scalar(select(func.count(Trial.id)).where(*where)) or 0
            rows = session.scalars(select(Trial).where(*where).order_by(Trial.id).offset(offset).limit(limit))
            return [_trial_record(r) for r in rows], total

        return self._read(work)

    def epoch_metrics(self, trial_id: int) -> list[EpochRecord]:
        """A trial's epochs in order (empty for an unknown trial)."""
        return self._read(lambda session: [_epoch_record(r) for r in EpochMetric.for_trial(session, trial_id)])

    def trial_counts(self, search_id: int) -> dict[TrialState, int]:
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

    def best_trial(self, search_id: int) -> TrialRecord | None:
        """The COMPLETE trial with the highest final val_acc; ties: fewer seconds, then lower id.

        Final, not best-epoch, accuracy: it is the search's objective and the model that is evaluated.
        """

        def work(session: Session) -> TrialRecord | None:
            row = _best_trial(session, search_id)
            return None if row is None else _trial_record(row)

        return self._read(work)

    # -- results ----------------------------------------------------------------------------------

    def set_test_result(self, search_id: int, trial_id: int, test_acc: float) -> SearchRecord:
        """Record the test accuracy of the search's chosen trial (also on its best-schedule row)."""
        value = _float("test_acc", test_acc)

        def work(session: Session) -> SearchRecord:
            search = _require_search(session, search_id, for_update=True)
            trial = session.get(Trial, trial_id)
            if trial is None or trial.search_id != search_id:
                raise ConfigError(f"trial {trial_id} does not belong to search {search_id}")
            search.test_acc = value
            search.test_trial_id = trial_id
            search.updated_at = utcnow()
            session.execute(
                update(BestSchedule)
                .where(BestSchedule.search_id == search_id, BestSchedule.trial_id == trial_id)
                .values(test_acc=value)
            )
            session.flush()
            return _search_record(search)

        return self._write(work)

    def update_best_schedule(self, search_id: int) -> BestScheduleRecord | None:
        """Offer the search's best COMPLETE trial as the best schedule of its (dataset, num_samples).

        It replaces the stored one when its val_acc is strictly higher, or when the stored one came
        from this same search. Returns the row now stored (possibly another search's), or None when
        the search has no COMPLETE trial with a val_acc."""

        def work(session: Session) -> BestScheduleRecord | None:
            search = _require_search(session, search_id)
            best = _best_trial(session, search_id)
            if best is None or best.val_acc is None:
                return None
            values: dict[str, Any] = {
                "dataset": search.dataset,
                "num_samples": search.num_samples,
                "search_id": search.id,
                "trial_id": best.id,
                "schedule": list(best.schedule),
                "epochs": search.epochs,
                "model": search.model,
                "stem": search.stem,
                "val_acc": best.val_acc,
                "test_acc": search.test_acc if search.test_trial_id == best.id else None,
                "updated_at": utcnow(),
            }
            _upsert(session, BestSchedule, values, conflict=("dataset", "num_samples"), update=None)
            row = BestSchedule.find(session, search.dataset, search.num_samples, for_update=True)
            assert row is not None
            if row.search_id == search.id or best.val_acc > row.val_acc:
                for name, value in values.items():
                    setattr(row, name, value)
                session.flush()
            return _best_record(row, _search_name(session, row.search_id))

        return self._write(work)

    def best_schedules(self, dataset: str | None = None) -> list[BestScheduleRecord]:
        """Best schedules by dataset, then size (ascending)."""

        def work(session: Session) -> list[BestScheduleRecord]:
            stmt = select(BestSchedule, Search.name).join(Search, Search.id == BestSchedule.search_id)
            if dataset is not None:
                stmt = stmt.where(BestSchedule.dataset == dataset)
            stmt = stmt.order_by(BestSchedule.dataset, BestSchedule.num_samples)
            return [_best_record(row, name) for row, name in session.execute(stmt).tuples()]

        return self._read(work)

    def datasets(self) -> list[DatasetSummary]:
        """Every searched dataset with its sizes, search and trial counts, by name."""

        def work(session: Session) -> list[DatasetSummary]:
            sizes: dict[str, dict[int, int]] = {}
            for dataset, num_samples, count in session.execute(
                select(Search.dataset, Search.num_samples, func.count(Search.id)).group_by(
                    Search.dataset, Search.num_samples
                )
            ):
                sizes.setdefault(dataset, {})[num_samples] = count
            trials: dict[str, dict[str, int]] = {}
            for dataset, state, count in session.execute(
                select(Search.dataset, Trial.state, func.count(Trial.id))
                .join(Trial, Trial.search_id == Search.id)
                .group_by(Search.dataset, Trial.state)
            ):
                trials.setdefault(dataset, {})[state] = count
            best: dict[str, list[int]] = {}
            for dataset, num_samples in session.execute(select(BestSchedule.dataset, BestSchedule.num_samples)):
                best.setdefault(dataset, []).append(num_samples)
            return [
                DatasetSummary(
                    dataset=name,
                    sizes=tuple(sorted(by_size)),
                    searches=sum(by_size.values()),
                    trials=sum(trials.get(name, {}).values()),
                    complete_trials=trials.get(name, {}).get(TrialState.COMPLETE.value, 0),
                    best_sizes=tuple(sorted(best.get(name, []))),
                )
                for name, by_size in sorted(sizes.items())
            ]

        return self._read(work)

    # -- studies ----------------------------------------------------------------------------------

    def add_study_run(
        self,
        study: str,
        dataset: str,
        fraction: float | None,
        num_samples: int,
        schedule_label: str,
        schedule: Sequence[int],
        epochs: int,
        model: str,
        stem: str,
        seed: int,
        status: str,
        val_acc: float,
        test_acc: float | None,
        seconds: float,
    ) -> StudyRunRecord:
        """Record one finished run of a study. The same (study, num_samples, schedule_label, seed)
        twice -> `ConfigError`."""
        if status not in ("completed", "diverged"):
            raise ConfigError(f"a study run is 'completed' or 'diverged', got {status!r}")
        fields: dict[str, Any] = dict(
            study=_text("study", study, 255),
            dataset=_text("dataset", dataset, 128),
            fraction=None if fraction is None else _float("fraction", fraction),
            num_samples=_int("num_samples", num_samples, minimum=1),
            schedule_label=_text("schedule_label", schedule_label, 128),
            schedule=_schedule(schedule),
            epochs=_int("epochs", epochs, minimum=1),
            model=_text("model", model, 128),
            stem=_text("stem", stem, 32),
            seed=_int("seed", seed),
            status=status,
            val_acc=_float("val_acc", val_acc),
            test_acc=None if test_acc is None else _float("test_acc", test_acc),
            seconds=_float("seconds", seconds),
            created_at=utcnow(),
        )

        def work(session: Session) -> StudyRunRecord:
            row = StudyRun(**fields)  # built per attempt: a retried transaction starts from scratch
            session.add(row)
            session.flush()
            return _study_run_record(row)

        taken = f"study {study!r} already has a run of {schedule_label!r} at {num_samples} images with seed {seed}"
        return self._write_unique(work, taken)

    def study_runs(self, study: str | None = None, dataset: str | None = None) -> list[StudyRunRecord]:
        """Runs of one study and/or one dataset (all runs when neither is given), oldest first."""
        where = []
        if study is not None:
            where.append(StudyRun.study == _text("study", study, 255))
        if dataset is not None:
            where.append(StudyRun.dataset == _text("dataset", dataset, 128))

        def work(session: Session) -> list[StudyRunRecord]:
            rows = session.scalars(select(StudyRun).where(*where).order_by(StudyRun.id))
            return [_study_run_record(r) for r in rows]

        return self._read(work)

    def _write_unique(self, work: Callable[[Session], T], message: str) -> T:
        try:
            return self._write(work)
        except IntegrityError:
            raise ConfigError(message) from None


# -- queries ----------------------------------------------------------------------------------------


def _snapshot_reads(engine: Engine) -> Engine:
    """The engine for read transactions: one snapshot per transaction. PostgreSQL's default (READ
    COMMITTED) takes a snapshot per statement, so a page and its total count, read while a search
    writes, could disagree; REPEATABLE READ fixes that, and read-only transactions never fail with
    serialization errors there. SQLite's read transactions are snapshots already."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def _require_search(session: Session, search_id: int, *, for_update: bool = False) -> Search:
    row = Search.find_by_id(session, search_id, for_update=for_update)
    if row is None:
        raise ConfigError(f"no search with id {search_id}")
    return row


def _require_trial(session: Session, search_id: int, trial_key: str, *, for_update: bool = False) -> Trial:
    row = Trial.find(session, search_id, trial_key, for_update=for_update)
    if row is None:
        raise ConfigError(f"no trial {trial_key!r} in search {search_id}; call start_trial first")
    return row


def _best_trial(session: Session, search_id: int) -> Trial | None:
    stmt = (
        select(Trial)
        .where(
            Trial.search_id == search_id,
            Trial.state == TrialState.COMPLETE.value,
            Trial.val_acc.is_not(None),
        )
        .order_by(Trial.val_acc.desc(), Trial.seconds.asc(), Trial.id.asc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def _search_name(session: Session, search_id: int) -> str:
    return session.scalar(select(Search.name).where(Search.id == search_id)) or ""


def _upsert(
    session: Session,
    model: type[Trial] | type[EpochMetric] | type[BestSchedule],
    values: dict[str, Any],
    *,
    conflict: tuple[str, ...],
    update: tuple[str, ...] | None,
) -> None:
    """INSERT ... ON CONFLICT (conflict) DO UPDATE SET update (or DO NOTHING), race-free."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        pg = postgresql.insert(model).values(values)
        if update:
            session.execute(pg.on_conflict_do_update(index_elements=conflict, set_={c: pg.excluded[c] for c in update}))
        else:
            session.execute(pg.on_conflict_do_nothing(index_elements=conflict))
    elif dialect == "sqlite":
        lite = sqlite.insert(model).values(values)
        if update:
            session.execute(
                lite.on_conflict_do_update(index_elements=conflict, set_={c: lite.excluded[c] for c in update})
            )
        else:
            session.execute(lite.on_conflict_do_nothing(index_elements=conflict))
    else:  # pragma: no cover - make_engine refuses other backends
        raise StoreError(f"unsupported database backend {dialect!r}")


# -- records ----------------------------------------------------------------------------------------


def _search_record(row: Search) -> SearchRecord:
    return SearchRecord(
        id=row.id,
        name=row.name,
        dataset=row.dataset,
        num_samples=row.num_samples,
        fraction=row.fraction,
        space=row.space,
        space_config=dict(row.space_config),
        budget=row.budget,
        epochs=row.epochs,
        model=row.model,
        model_config=dict(row.model_config),
        stem=row.stem,
        seed=row.seed,
        status=SearchStatus(row.status),
        study_name=row.study_name,
        storage_path=row.storage_path,
        ray_address=row.ray_address,
        created_at=row.created_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        test_acc=row.test_acc,
        test_trial_id=row.test_trial_id,
        error=row.error,
    )


def _trial_record(row: Trial) -> TrialRecord:
    return TrialRecord(
        id=row.id,
        search_id=row.search_id,
        trial_key=row.trial_key,
        optuna_number=row.optuna_number,
        schedule=tuple(row.schedule),
        params=dict(row.params),
        state=TrialState(row.state),
        val_acc=row.val_acc,
        best_val_acc=row.best_val_acc,
        epochs_run=row.epochs_run,
        seconds=row.seconds,
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        ray_trial_id=row.ray_trial_id,
        checkpoint_path=row.checkpoint_path,
        node_id=row.node_id,
    )


def _epoch_record(row: EpochMetric) -> EpochRecord:
    return EpochRecord(
        id=row.id,
        trial_id=row.trial_id,
        epoch=row.epoch,
        val_acc=row.val_acc,
        val_loss=row.val_loss,
        train_loss=row.train_loss,
        train_acc=row.train_acc,
        seconds=row.seconds,
        lr=row.lr,
        attention_layers=row.attention_layers,
        recorded_at=row.recorded_at,
    )


def _best_record(row: BestSchedule, search_name: str) -> BestScheduleRecord:
    return BestScheduleRecord(
        id=row.id,
        dataset=row.dataset,
        num_samples=row.num_samples,
        search_id=row.search_id,
        search_name=search_name,
        trial_id=row.trial_id,
        schedule=tuple(row.schedule),
        epochs=row.epochs,
        model=row.model,
        stem=row.stem,
        val_acc=row.val_acc,
        test_acc=row.test_acc,
        updated_at=row.updated_at,
    )


def _study_run_record(row: StudyRun) -> StudyRunRecord:
    return StudyRunRecord(
        id=row.id,
        study=row.study,
        dataset=row.dataset,
        fraction=row.fraction,
        num_samples=row.num_samples,
        schedule_label=row.schedule_label,
        schedule=tuple(row.schedule),
        epochs=row.epochs,
        model=row.model,
        stem=row.stem,
        seed=row.seed,
        status=row.status,
        val_acc=row.val_acc,
        test_acc=row.test_acc,
        seconds=row.seconds,
        created_at=row.created_at,
    )


# -- input checks -----------------------------------------------------------------------------------

E = TypeVar("E", SearchStatus, TrialState)


def _enum(kind: type[E], value: E | str, what: str) -> E:
    try:
        return kind(value)
    except ValueError:
        raise ConfigError(f"unknown {what} {value!r}; expected one of {', '.join(m.value for m in kind)}") from None


def _page(offset: int, limit: int) -> tuple[int, int]:
    return _int("offset", offset, minimum=0), min(_int("limit", limit, minimum=1), MAX_PAGE)


def _text(name: str, value: object, max_length: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} must be a non-empty string, got {value!r}")
    if len(value) > max_length:
        raise ConfigError(f"{name} is longer than {max_length} characters")
    return value


def _int(name: str, value: object, *, minimum: int | None = None) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {number}")
    return number


def _float(name: str, value: object, *, finite: bool = True) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    if finite and not math.isfinite(number):
        raise ConfigError(f"{name} must be finite, got {number}")
    return number


def _schedule(schedule: Sequence[int]) -> list[int]:
    if isinstance(schedule, str | bytes) or not isinstance(schedule, Sequence) or not schedule:
        raise ConfigError(f"a schedule is a non-empty sequence of switch epochs, got {schedule!r}")
    return [_int(f"layer {i} switch epoch", e, minimum=0) for i, e in enumerate(schedule, start=1)]


def _epoch_values(metrics: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(metrics, Mapping):
        raise ConfigError(f"epoch metrics must be a mapping, got {type(metrics).__name__}")
    if metrics.get("val_acc") is None:
        raise ConfigError("epoch metrics need 'val_acc'")
    values: dict[str, Any] = {"val_acc": _float("val_acc", metrics["val_acc"])}
    for name in ("val_loss", "train_loss", "train_acc", "lr"):
        raw = metrics.get(name)
        number = None if raw is None else _float(name, raw, finite=False)
        values[name] = number if number is not None and math.isfinite(number) else None
    seconds = _float("seconds", metrics.get("seconds") or 0.0)
    if seconds < 0:
        raise ConfigError(f"seconds must be >= 0, got {seconds}")
    values["seconds"] = seconds
    raw_layers = metrics.get("attention_layers")
    values["attention_layers"] = None if raw_layers is None else _int("attention_layers", raw_layers, minimum=0)
    return values


def _json_default(value: Any) -> Any:
    for attr in ("tolist", "item"):  # numpy / torch scalars and arrays
        if hasattr(value, attr):
            return getattr(value, attr)()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON (and PostgreSQL's json type) has no NaN or Infinity
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _json_object(name: str, value: Mapping[str, Any]) -> dict[str, Any]:
    """A plain-JSON copy of `value` (numpy scalars become numbers, NaN becomes null)."""
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name} must be a mapping, got {type(value).__name__}")
    try:
        text = json.dumps(dict(value), default=_json_default)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} is not JSON serialisable: {exc}") from None
    result: dict[str, Any] = _finite(json.loads(text))
    return result
