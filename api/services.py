"""What the routes do, as plain functions of the store (and the launcher): routes stay a few lines."""

import re
import secrets
from datetime import UTC, datetime
from typing import Literal

import prs_search
from prs_search.errors import NotFoundError, StoreError
from prs_search.store import ResultsStore, SearchRecord, SearchStatus, TrialState

from .errors import ConflictError
from .launcher import Launcher
from .schemas import (
    DatasetOut,
    DatasetsOut,
    EpochOut,
    EpochsOut,
    HealthOut,
    SearchCreate,
    SearchDetailOut,
    SearchesOut,
    SearchLaunchOut,
    SearchOut,
    TrialCountsOut,
    TrialOut,
    TrialsOut,
)
from .settings import ApiSettings

SEARCHES_PATH = "/v1/searches"


def health(store: ResultsStore, settings: ApiSettings) -> HealthOut:
    """The database is `ok` when a read succeeds; the caller answers 503 when it is not."""
    writes: Literal["token", "open", "disabled"] = (
        "disabled" if not settings.api_writes_enabled else "open" if settings.api_auth_disabled else "token"
    )
    backend, version = store.engine.dialect.name, prs_search.__version__
    try:
        _, total = store.list_searches(limit=1)
    except StoreError as exc:
        return HealthOut(
            status="unavailable", database="unreachable", backend=backend, searches=None, writes=writes,
            runner=settings.api_runner, version=version, detail=str(exc),
        )  # fmt: skip
    return HealthOut(
        status="ok", database="ok", backend=backend, searches=total, writes=writes, runner=settings.api_runner,
        version=version,
    )  # fmt: skip


def list_datasets(store: ResultsStore) -> DatasetsOut:
    data = [DatasetOut.model_validate(d) for d in store.datasets()]
    return DatasetsOut(data=data, count=len(data))


def list_searches(
    store: ResultsStore, offset: int, limit: int, dataset: str | None, status: SearchStatus | None
) -> SearchesOut:
    rows, total = store.list_searches(offset=offset, limit=limit, dataset=dataset, status=status)
    return SearchesOut(data=[SearchOut.model_validate(r) for r in rows], count=total)


def find_search(store: ResultsStore, launcher: Launcher, key: str) -> SearchRecord:
    """A search by id or name; 404 (saying so when this API started it and it has not registered yet)."""
    search = store.get_search(name_or_id=key)
    if search is None:
        raise NotFoundError(launcher.describe(key) or f"no search with id or name {key!r}")
    return search


def search_detail(store: ResultsStore, search: SearchRecord) -> SearchDetailOut:
    counts = _counts(store, search.id)
    finished = counts.COMPLETE + counts.PRUNED + counts.FAIL
    best = store.best_trial(search_id=search.id)
    return SearchDetailOut.model_validate(
        {
            **search.model_dump(),
            "trial_counts": counts,
            "trials_finished": finished,
            "progress": min(finished / search.budget, 1.0),
            "best_trial": TrialOut.model_validate(best) if best is not None else None,
        }  # fmt: skip
    )


def list_trials(
    store: ResultsStore, search: SearchRecord, offset: int, limit: int, state: TrialState | None
) -> TrialsOut:
    rows, total = store.list_trials(search_id=search.id, offset=offset, limit=limit, state=state)
    return TrialsOut(data=[TrialOut.model_validate(r) for r in rows], count=total, counts=_counts(store, search.id))


def list_epochs(store: ResultsStore, search: SearchRecord, trial_id: int) -> EpochsOut:
    trial = store.get_trial(trial_id=trial_id)
    if trial is None or trial.search_id != search.id:
        raise NotFoundError(f"search {search.name!r} has no trial with id {trial_id}")
    data = [EpochOut.model_validate(e) for e in store.epoch_metrics(trial_id=trial_id)]
    return EpochsOut(data=data, count=len(data))


def start_search(store: ResultsStore, launcher: Launcher, body: SearchCreate) -> SearchLaunchOut:
    """Accept a search: a free name (given or generated), then the launcher starts `prs-search run`."""
    name = body.name or default_name(body)
    if store.get_search(name_or_id=name) is not None:
        raise ConflictError(f"a search named {name!r} exists; choose another name (or resume it with the CLI)")
    launch = launcher.launch(name, body)
    return SearchLaunchOut(
        name=name, state="accepted" if launch.process is None else "starting", runner=launch.runner,
        pid=launch.pid, accepted_at=launch.accepted_at, location=f"{SEARCHES_PATH}/{name}",
    )  # fmt: skip


def default_name(body: SearchCreate) -> str:
    """DATASET-SIZE-SPACE-TIMESTAMP-RANDOM, e.g. `cifar100-f0.1-monotone-20250101-120000-1a2b3c`."""
    dataset = re.sub(r"[^A-Za-z0-9_.\-]+", "_", body.dataset)[-60:].strip("_.-") or "dataset"
    size = f"{body.num_samples}" if body.num_samples else f"f{body.fraction}" if body.fraction else "all"
    space = body.space.value
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"{dataset}-{size}-{space}-{stamp}-{secrets.token_hex(3)}"


def _counts(store: ResultsStore, search_id: int) -> TrialCountsOut:
    return TrialCountsOut(**{str(state): n for state, n in store.trial_counts(search_id=search_id).items()})
