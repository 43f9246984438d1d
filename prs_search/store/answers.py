"""The store's side of a search's answer: its test result and the best schedule per (dataset, size).

A mixin of `ResultsStore` (its `_read` / `_write` transactions), kept apart so that the store's main
module stays one screenful per concern.
"""

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, joinedload

from prs_search.errors import ConfigError, checked
from prs_search.field_types import Finite
from prs_search.schemas import BestScheduleRecord, Confirmation, DatasetSummary, FinishedRunRecord, SearchRecord
from prs_search.store import dataset_versions, queries
from prs_search.store.db import Transactions
from prs_search.store.models import BestSchedule, Search, Trial, utcnow


class AnswersMixin(Transactions):
    """`set_test_result`, `update_best_schedule`, `best_schedules`, `finished_runs` and `datasets` for
    `ResultsStore`."""

    @checked
    def set_test_result(self, *, search_id: int, trial_id: int | None, test_acc: Finite) -> SearchRecord:
        """Record the test accuracy of the search's chosen schedule (also on its best-schedule row);
        `trial_id` is its search trial, None for a PRS default that only the re-evaluation trained."""

        def work(session: Session) -> SearchRecord:
            search = queries.require_search(session, search_id, for_update=True)
            trial = None if trial_id is None else session.get(Trial, trial_id)
            if trial_id is not None and (trial is None or trial.search_id != search_id):
                raise ConfigError(f"trial {trial_id} does not belong to search {search_id}")
            search.test_acc = test_acc
            search.test_trial_id = trial_id
            search.updated_at = utcnow()
            same_trial = BestSchedule.trial_id.is_(None) if trial_id is None else BestSchedule.trial_id == trial_id
            session.execute(
                update(BestSchedule).where(BestSchedule.search_id == search_id, same_trial).values(test_acc=test_acc)
            )
            session.flush()
            dataset_versions.bump(session, search.dataset)
            return SearchRecord.model_validate(search)

        return self._write(work)

    @checked
    def update_best_schedule(
        self, *, search_id: int, confirmation: Confirmation | None = None
    ) -> BestScheduleRecord | None:
        """Offer the search's answer as the best schedule of its (dataset, num_samples): the re-evaluated
        choice when given, else its best COMPLETE trial.

        It replaces the stored one when its val_acc is strictly higher, or when the stored one came
        from this same search. Returns the row now stored (possibly another search's), or None when
        the search has nothing to offer."""

        def work(session: Session) -> BestScheduleRecord | None:
            search = queries.require_search(session, search_id)
            values = _offer(session, search, confirmation)
            if values is None:
                return None
            dataset_versions.bump(session, search.dataset)
            queries.upsert(session, BestSchedule, values, conflict=("dataset", "num_samples"), update=None)
            row = BestSchedule.find(session, search.dataset, search.num_samples, for_update=True)
            assert row is not None
            if row.search_id == search.id or values["val_acc"] > row.val_acc:
                for name, value in values.items():
                    setattr(row, name, value)
                session.flush()
            return BestScheduleRecord.model_validate(row)

        return self._write(work)

    @checked
    def best_schedules(self, *, dataset: str | None = None, search_id: int | None = None) -> list[BestScheduleRecord]:
        """Best schedules by dataset, then size (ascending); with `search_id`, the one that search stands
        behind (none when another search's answer holds its size)."""

        def work(session: Session) -> list[BestScheduleRecord]:
            stmt = select(BestSchedule).options(joinedload(BestSchedule.search))
            if dataset is not None:
                stmt = stmt.where(BestSchedule.dataset == dataset)
            if search_id is not None:
                stmt = stmt.where(BestSchedule.search_id == search_id)
            stmt = stmt.order_by(BestSchedule.dataset, BestSchedule.num_samples)
            return [BestScheduleRecord.model_validate(row) for row in session.scalars(stmt)]

        return self._read(work)

    @checked
    def finished_runs(self, *, dataset: str) -> list[FinishedRunRecord]:
        """Every finished training run of `dataset`'s searches, any size (see `queries.finished_runs`): the
        cross-size model's data. Each of them bumped the dataset's version when it was stored."""
        return self._read(lambda session: queries.finished_runs(session, dataset))

    def datasets(self) -> list[DatasetSummary]:
        """Every searched dataset with its sizes, search and trial counts, by name."""
        return self._read(queries.dataset_summaries)


def _offer(session: Session, search: Search, confirmation: Confirmation | None) -> dict[str, Any] | None:
    """The best-schedule row a search offers: its confirmed choice, else its best trial (no interval)."""
    common = {
        "dataset": search.dataset, "num_samples": search.num_samples, "search_id": search.id, "epochs": search.epochs,
        "model": search.model, "stem": search.stem, "updated_at": utcnow(),
    }  # fmt: skip
    if confirmation is not None:
        tested = search.test_trial_id == confirmation.trial_id and search.test_acc is not None
        return {**common, **confirmation.model_dump(), "test_acc": search.test_acc if tested else None}
    best = queries.best_trial(session, search.id)
    if best is None or best.val_acc is None:
        return None
    unconfirmed = dict.fromkeys(("seeds", "val_low", "val_high", "baseline_schedule", "advantage",
                                 "advantage_low", "advantage_high"))  # fmt: skip
    tested = search.test_trial_id == best.id
    return {
        **common, **unconfirmed, "trial_id": best.id, "schedule": list(best.schedule), "val_acc": best.val_acc,
        "test_acc": search.test_acc if tested else None,
    }  # fmt: skip
