"""The SQL the results store runs inside its transactions: finders that raise, the best trial, a
race-free upsert on both backends, and the per-dataset summary. Nothing here commits."""

from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from prs_search.errors import ConfigError, StoreError
from prs_search.field_types import TrialState
from prs_search.schemas import DatasetSummary, FinishedRunRecord
from prs_search.store.models import BestSchedule, ConfirmationRun, EpochMetric, Search, Trial


def snapshot_reads(engine: Engine) -> Engine:
    """The engine for read transactions: one snapshot per transaction. PostgreSQL's default (READ
    COMMITTED) takes a snapshot per statement, so a page and its total count, read while a search
    writes, could disagree; REPEATABLE READ fixes that, and read-only transactions never fail with
    serialization errors there. SQLite's read transactions are snapshots already."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine


def require_search(session: Session, search_id: int, *, for_update: bool = False) -> Search:
    row = Search.find_by_id(session, search_id, for_update=for_update)
    if row is None:
        raise ConfigError(f"no search with id {search_id}")
    return row


def require_trial(session: Session, search_id: int, trial_key: str, *, for_update: bool = False) -> Trial:
    row = Trial.find(session, search_id, trial_key, for_update=for_update)
    if row is None:
        raise ConfigError(f"no trial {trial_key!r} in search {search_id}; call start_trial first")
    return row


def best_trial(session: Session, search_id: int) -> Trial | None:
    """The COMPLETE trial with the highest final val_acc; ties: fewer seconds, then lower id."""
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


def refresh_trial_aggregates(session: Session, trial: Trial) -> None:
    """A trial's aggregates from all its epoch rows: val_acc of its latest epoch, best val_acc,
    epochs_run = latest epoch + 1, seconds = sum, flops = sum when every epoch was counted (else None:
    a part of the epochs is not the trial's cost)."""
    last_epoch, seconds, best, flops, counted, rows = session.execute(
        select(
            func.max(EpochMetric.epoch), func.sum(EpochMetric.seconds), func.max(EpochMetric.val_acc),
            func.sum(EpochMetric.flops), func.count(EpochMetric.flops), func.count(EpochMetric.id),
        ).where(EpochMetric.trial_id == trial.id)
    ).one()  # fmt: skip
    trial.val_acc = session.scalar(
        select(EpochMetric.val_acc).where(EpochMetric.trial_id == trial.id, EpochMetric.epoch == last_epoch)
    )
    trial.best_val_acc = best
    trial.epochs_run = int(last_epoch) + 1
    trial.seconds = float(seconds or 0.0)
    trial.flops = float(flops) if flops is not None and counted == rows else None


def upsert(
    session: Session,
    model: type[Trial] | type[EpochMetric] | type[BestSchedule] | type[ConfirmationRun],
    values: dict[str, Any],
    *,
    conflict: tuple[str, ...],
    update: tuple[str, ...] | None,
) -> None:
    """INSERT ... ON CONFLICT (conflict) DO UPDATE SET update (or DO NOTHING), race-free."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(model).values(values)
    elif dialect == "sqlite":
        insert = sqlite.insert(model).values(values)
    else:  # pragma: no cover - make_engine refuses other backends
        raise StoreError(f"unsupported database backend {dialect!r}")
    if update:
        session.execute(
            insert.on_conflict_do_update(index_elements=conflict, set_={c: insert.excluded[c] for c in update})
        )
    else:
        session.execute(insert.on_conflict_do_nothing(index_elements=conflict))


def dataset_summaries(session: Session) -> list[DatasetSummary]:
    """Every searched dataset with its sizes, search and trial counts, by name."""
    sizes: dict[str, dict[int, int]] = {}
    for dataset, num_samples, count in session.execute(
        select(Search.dataset, Search.num_samples, func.count(Search.id)).group_by(Search.dataset, Search.num_samples)
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


def finished_runs(session: Session, dataset: str) -> list[FinishedRunRecord]:
    """Every run of `dataset` that trained a schedule for all its search's epochs: COMPLETE trials (one
    stopped early by ASHA is PRUNED, not COMPLETE) and COMPLETE re-evaluation runs, without the ones that
    reuse a trial's own run (that trial is already here). By search, then trial or run id."""
    trials = (
        select(Trial.search_id, Search.num_samples, Trial.schedule, Trial.val_acc)
        .join(Search, Trial.search_id == Search.id)
        .where(
            Search.dataset == dataset, Trial.state == TrialState.COMPLETE.value, Trial.val_acc.is_not(None),
            Trial.epochs_run >= Search.epochs,
        )
        .order_by(Trial.search_id, Trial.id)
    )  # fmt: skip
    reruns = (
        select(ConfirmationRun.search_id, Search.num_samples, ConfirmationRun.schedule, ConfirmationRun.val_acc)
        .join(Search, ConfirmationRun.search_id == Search.id)
        .where(
            Search.dataset == dataset, ConfirmationRun.state == "COMPLETE", ConfirmationRun.val_acc.is_not(None),
            ConfirmationRun.epochs_run >= Search.epochs, ConfirmationRun.reused.is_(False),
        )
        .order_by(ConfirmationRun.search_id, ConfirmationRun.id)
    )  # fmt: skip
    return [
        FinishedRunRecord.model_validate({**row._mapping, "source": source})
        for source, stmt in (("trial", trials), ("rerun", reruns))
        for row in session.execute(stmt)
    ]
