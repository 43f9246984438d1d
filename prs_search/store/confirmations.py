"""The store's side of the finalists' re-evaluation: one row per (search, candidate, seed).

A mixin of `ResultsStore` (its `_read` / `_write` transactions), kept apart so that the store's main
module stays one screenful per concern.
"""

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from prs_search.errors import checked
from prs_search.field_types import Finite, Flops, JsonObject, NonNegative, Seconds, ShortText, SwitchEpochs
from prs_search.schemas import ConfirmationRunRecord
from prs_search.store import dataset_versions, queries
from prs_search.store.db import Transactions
from prs_search.store.models import ConfirmationRun


class ConfirmationsMixin(Transactions):
    """`add_confirmation_run` and `confirmation_runs` for `ResultsStore`."""

    @checked
    def add_confirmation_run(
        self, *, search_id: int, candidate: ShortText, role: Literal["finalist", "baseline"],
        source_trial_id: int | None, schedule: SwitchEpochs, params: JsonObject, seed: NonNegative, reused: bool,
        state: Literal["COMPLETE", "FAIL"], val_acc: Finite | None, epochs_run: NonNegative, seconds: Seconds,
        flops: Flops | None = None, checkpoint_path: str | None = None, error: str | None = None,
    ) -> ConfirmationRunRecord:  # fmt: skip
        """Record one re-evaluation run; a run already stored for (candidate, seed) is kept and returned
        (a resumed re-evaluation, or a driver that repeats itself, changes nothing). A new run changes the
        cross-size model's data, so it bumps the dataset's version."""

        def work(session: Session) -> ConfirmationRunRecord:
            dataset_versions.bump(session, queries.require_search(session, search_id).dataset)
            values = {
                "search_id": search_id, "candidate": candidate, "role": role, "source_trial_id": source_trial_id,
                "schedule": list(schedule), "params": params, "seed": seed, "reused": reused, "state": state,
                "val_acc": val_acc, "epochs_run": epochs_run, "seconds": seconds, "flops": flops,
                "checkpoint_path": checkpoint_path, "error": error,
            }  # fmt: skip
            queries.upsert(session, ConfirmationRun, values, conflict=("search_id", "candidate", "seed"), update=None)
            stmt = select(ConfirmationRun).where(
                ConfirmationRun.search_id == search_id, ConfirmationRun.candidate == candidate,
                ConfirmationRun.seed == seed,
            )  # fmt: skip
            return ConfirmationRunRecord.model_validate(session.scalars(stmt).one())

        return self._write(work)

    @checked
    def confirmation_runs(self, *, search_id: int) -> list[ConfirmationRunRecord]:
        """A search's re-evaluation runs, by candidate then seed (empty when it had none)."""
        return self._read(
            lambda session: [
                ConfirmationRunRecord.model_validate(r) for r in ConfirmationRun.for_search(session, search_id)
            ]
        )
