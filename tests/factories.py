"""Factories shared by the API, CLI, store and recommendation tests: the API's settings and store rows."""

from pathlib import Path
from typing import Any

from prs_search.api.settings import ApiSettings
from prs_search.schemas import Confirmation, NewSearch
from prs_search.store import BestScheduleRecord, ResultsStore, SearchRecord, TrialRecord

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LOCAL_BASE_URL = "http://127.0.0.1"  # the Host header an API that answers loopback only accepts
LOCAL_CLIENT = ("127.0.0.1", 50000)


def api_settings(url: str, home: Path, **overrides: Any) -> ApiSettings:
    """Settings for a test app: its own database and home, a token, and no background runs."""
    fields: dict[str, Any] = {"database_url": url, "home": home, "api_token": TOKEN, "api_runner": "none"}
    return ApiSettings(_env_file=None, **{**fields, **overrides})  # type: ignore[call-arg]


class Rows:
    """Builds store rows through `ResultsStore`'s own methods, as the search driver does."""

    def __init__(self, store: ResultsStore) -> None:
        self.store = store
        self._count = 0

    def search(
        self,
        dataset: str = "cifar100",
        num_samples: int = 5000,
        *,
        name: str | None = None,
        fraction: float | None = None,
        epochs: int = 10,
        model: str = "tiny",
        stem: str = "conv",
        budget: int = 20,
        depth: int = 4,
    ) -> SearchRecord:
        self._count += 1
        name = name or f"{dataset}-{num_samples}-{self._count}"
        return self.store.create_search(NewSearch(
            name=name, dataset=dataset, num_samples=num_samples, fraction=fraction, space="monotone",
            space_config={"name": "monotone"}, budget=budget, epochs=epochs, model=model,
            model_config={"preset": model, "depth": depth}, stem=stem, seed=0, study_name=f"prs-{name}",
        ))  # fmt: skip

    def trial(
        self, search: SearchRecord, schedule: list[int], accs: list[float], *, state: str = "COMPLETE",
        flops: float | None = None, seconds: float = 0.5,
    ) -> TrialRecord:  # fmt: skip
        """A trial that ran `len(accs)` epochs and ended in `state` (RUNNING: still running); every epoch took
        `seconds` and counted `flops` (None: not counted)."""
        key = f"t{self._next()}"
        trial = self.store.start_trial(
            search_id=search.id, trial_key=key, schedule=schedule, params={"schedule": schedule}
        )
        for epoch, acc in enumerate(accs):
            self.store.record_epoch(
                search_id=search.id,
                trial_key=key,
                epoch=epoch,
                metrics={"val_acc": acc, "train_loss": 1.0, "seconds": seconds, "flops": flops},
            )
        if state != "RUNNING":
            trial = self.store.finish_trial(search_id=search.id, trial_key=key, state=state)
        return self.store.get_trial(trial_id=trial.id) or trial

    def finished(
        self,
        dataset: str,
        num_samples: int,
        schedule: list[int],
        val_acc: float,
        *,
        test_acc: float | None = None,
        pruned: int = 1,
        confirmation: Confirmation | None = None,
        **search: Any,
    ) -> BestScheduleRecord:
        """A finished search whose best trial has `schedule` and final `val_acc`, plus `pruned` others; with
        `confirmation`, its answer is that re-evaluated choice (`trial_id` None: filled with the best's)."""
        record = self.search(dataset, num_samples, depth=len(schedule), **search)
        self.store.set_search_status(search_id=record.id, status="running")
        best = self.trial(record, schedule, [val_acc / 2, val_acc])
        for _ in range(pruned):
            self.trial(record, [record.epochs] * len(schedule), [val_acc / 3], state="PRUNED")
        if test_acc is not None:
            self.store.set_test_result(search_id=record.id, trial_id=best.id, test_acc=test_acc)
        if confirmation is not None and confirmation.trial_id is None and tuple(schedule) == confirmation.schedule:
            confirmation = confirmation.model_copy(update={"trial_id": best.id})
        row = self.store.update_best_schedule(search_id=record.id, confirmation=confirmation)
        assert row is not None
        self.store.set_search_status(search_id=record.id, status="finished")
        return row

    def _next(self) -> int:
        self._count += 1
        return self._count
