"""The store's side of the data-scale study: one row per (study, size, schedule label, seed).

A mixin of `ResultsStore` (its `_read` / `_write` transactions), kept apart so that the store's main
module stays one screenful per concern.
"""

from sqlalchemy import select
from sqlalchemy.orm import Session

from prs_search.errors import checked
from prs_search.field_types import (
    Count,
    DatasetName,
    Finite,
    Fraction,
    JsonObject,
    Name,
    NonNegative,
    Seconds,
    ShortText,
    StemName,
    StudyRunStatus,
)
from prs_search.recipe import ConvVariant
from prs_search.schemas import StudyRunRecord
from prs_search.store.db import Transactions
from prs_search.store.models import StudyRun, utcnow


class StudyRunsMixin(Transactions):
    """`add_study_run` and `study_runs` for `ResultsStore`."""

    @checked
    def add_study_run(
        self, *, study: Name, dataset: DatasetName, fraction: Fraction | None, num_samples: Count,
        schedule_label: ShortText, schedule: tuple[NonNegative, ...], epochs: Count, model: ShortText,
        stem: StemName, conv: ConvVariant | None, seed: NonNegative, status: StudyRunStatus, val_acc: Finite,
        test_acc: Finite | None, train_acc: Finite | None, seconds: Seconds, fourier: JsonObject | None = None,
    ) -> StudyRunRecord:  # fmt: skip
        """Record one finished run of a study. The same (study, num_samples, schedule_label, seed)
        twice -> `ConfigError`."""

        def work(session: Session) -> StudyRunRecord:
            # Built per attempt: a retried transaction starts from scratch.
            row = StudyRun(
                study=study, dataset=dataset, fraction=fraction, num_samples=num_samples,
                schedule_label=schedule_label, schedule=list(schedule), epochs=epochs, model=model, stem=stem,
                conv=conv, seed=seed, status=status, val_acc=val_acc, test_acc=test_acc, train_acc=train_acc,
                seconds=seconds, fourier=fourier, created_at=utcnow(),
            )  # fmt: skip
            session.add(row)
            session.flush()
            return StudyRunRecord.model_validate(row)

        taken = f"study {study!r} already has a run of {schedule_label!r} at {num_samples} images with seed {seed}"
        return self._write(work, conflict=taken)

    @checked
    def study_runs(self, *, study: Name | None = None, dataset: DatasetName | None = None) -> list[StudyRunRecord]:
        """Runs of one study and/or one dataset (all runs when neither is given), oldest first."""
        where = []
        if study is not None:
            where.append(StudyRun.study == study)
        if dataset is not None:
            where.append(StudyRun.dataset == dataset)

        def work(session: Session) -> list[StudyRunRecord]:
            rows = session.scalars(select(StudyRun).where(*where).order_by(StudyRun.id))
            return [StudyRunRecord.model_validate(r) for r in rows]

        return self._read(work)
