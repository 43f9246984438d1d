"""Factories shared by the API, CLI, store and recommendation tests: the API's settings and store rows."""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from prs_search.api.settings import ApiSettings
from prs_search.schemas import Confirmation, NewSearch, WarmStart
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
        val_size: int | None = None,
        warm_started: WarmStart | None = None,
    ) -> SearchRecord:
        self._count += 1
        name = name or f"{dataset}-{num_samples}-{self._count}"
        return self.store.create_search(NewSearch(
            name=name, dataset=dataset, num_samples=num_samples, fraction=fraction, space="monotone",
            space_config={"name": "monotone", "schedule": "monotone"}, budget=budget, epochs=epochs, model=model,
            model_config={"preset": model, "depth": depth}, stem=stem, seed=0, study_name=f"prs-{name}",
            val_size=val_size, warm_started=warm_started,
        ))  # fmt: skip

    def trial(
        self, search: SearchRecord, schedule: list[int], accs: list[float], *, state: str = "COMPLETE",
        flops: float | Sequence[float] | None = None, seconds: float = 0.5,
    ) -> TrialRecord:  # fmt: skip
        """A trial that ran `len(accs)` epochs and ended in `state` (RUNNING: still running); every epoch took
        `seconds` and counted `flops` (one number for every epoch, or one per epoch; None: not counted)."""
        per_epoch = flops if isinstance(flops, Sequence) else [flops] * len(accs)
        key = f"t{self._next()}"
        trial = self.store.start_trial(
            search_id=search.id, trial_key=key, schedule=schedule, params={"schedule": schedule}
        )
        for epoch, acc in enumerate(accs):
            self.store.record_epoch(
                search_id=search.id,
                trial_key=key,
                epoch=epoch,
                metrics={"val_acc": acc, "train_loss": 1.0, "seconds": seconds, "flops": per_epoch[epoch]},
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

    def searched(
        self, dataset: str, num_samples: int, schedules: Sequence[Sequence[int]], accs: Sequence[float], **search: Any
    ) -> SearchRecord:
        """A finished search whose trials ran every epoch of `search`'s `epochs` (10), ending at `accs`."""
        record = self.search(dataset, num_samples, depth=len(schedules[0]), **search)
        self.store.set_search_status(search_id=record.id, status="running")
        for schedule, acc in zip(schedules, accs, strict=True):
            self.trial(record, list(schedule), [acc / 2] * (record.epochs - 1) + [acc])
        assert self.store.update_best_schedule(search_id=record.id) is not None
        return self.store.set_search_status(search_id=record.id, status="finished")

    def _next(self) -> int:
        self._count += 1
        return self._count


# A known truth for the cross-size model's tests: expected val_acc of a 4-layer, 10-epoch schedule at N images,
# a quadratic bowl whose optimum moves from (8, 6, 4, 2) at 500 images to (4, 3, 2, 0) at 2,000.
SMALL, LARGE = 500, 2000


def true_optimum(num_samples: int) -> tuple[float, ...]:
    t = (math.log(num_samples) - math.log(SMALL)) / (math.log(LARGE) - math.log(SMALL))
    return tuple((1 - t) * a + t * b for a, b in zip((8, 6, 4, 2), (4, 3, 2, 0), strict=True))


def true_accuracy(schedule: Sequence[int], num_samples: int) -> float:
    distance = sum(((e - o) / 10) ** 2 for e, o in zip(schedule, true_optimum(num_samples), strict=True))
    return 0.5 + 0.05 * math.log(num_samples / SMALL) - 0.3 * distance


def searched_at_both_ends(rows: Rows, per_size: int = 8, seed: int = 0, dataset: str = "cifar100") -> None:
    """Finished searches at 500 and 2,000 images of `per_size` trials each (random monotone schedules, run for
    all 10 epochs), their accuracy drawn from `true_accuracy` with noise of sd 0.01."""
    rng = np.random.default_rng(seed)
    for n in (SMALL, LARGE):
        schedules = [tuple(sorted(map(int, rng.integers(0, 11, size=4)), reverse=True)) for _ in range(per_size)]
        accs = [true_accuracy(s, n) + rng.normal(0.0, 0.01) for s in schedules]
        rows.searched(dataset, n, schedules, accs)
