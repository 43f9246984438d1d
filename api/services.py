"""What the routes do, as plain functions of the store (and the launcher): routes stay a few lines."""

import logging
import os
from functools import partial
from typing import Literal

from starlette.concurrency import run_in_threadpool

import prs_search
from prs_search.errors import ConfigError, ConflictError, NotFoundError, StoreError
from prs_search.field_types import Cost
from prs_search.known import check_fits_here, check_known
from prs_search.pareto import accuracy_cost_front
from prs_search.recommend import recommend
from prs_search.search_request import default_search_name
from prs_search.store import ResultsStore, SearchRecord, SearchStatus, TrialState

from .cache import RecommendationCache
from .errors import public_detail
from .launcher import Launcher
from .paths import checked_dataset
from .schemas import (
    DatasetOut,
    DatasetsOut,
    DriverOut,
    EpochOut,
    EpochsOut,
    HealthOut,
    ParetoOut,
    RecommendationOut,
    SearchCancelOut,
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

log = logging.getLogger(__name__)

SEARCHES_PATH = "/v1/searches"


def health(store: ResultsStore, settings: ApiSettings) -> HealthOut:
    """The database is `ok` when a read succeeds; the caller answers 503 when it is not."""
    writes: Literal["token", "open", "disabled"] = (
        "disabled" if not settings.writes_allowed else "open" if settings.api_auth_disabled else "token"
    )
    backend, version = store.engine.dialect.name, prs_search.__version__
    try:
        _, total = store.list_searches(limit=1)
    except StoreError as exc:
        log.warning("health: %s", exc)  # the reason, with the database's address, is for the server's log only
        return HealthOut(
            status="unavailable", database="unreachable", backend=backend, searches=None, writes=writes,
            runner=settings.api_runner, version=version, detail=public_detail(exc),
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


def search_detail(store: ResultsStore, search: SearchRecord, ttl_s: float) -> SearchDetailOut:
    counts = _counts(store, search.id)
    finished = counts.COMPLETE + counts.PRUNED + counts.FAIL
    best = store.best_trial(search_id=search.id)
    driver = store.driver_of(search_id=search.id, ttl_s=ttl_s)
    return SearchDetailOut.model_validate(
        {
            **search.model_dump(),
            "trial_counts": counts,
            "trials_finished": finished,
            "progress": min(finished / search.budget, 1.0),
            "best_trial": TrialOut.model_validate(best) if best is not None else None,
            # Its public fields only: not the holder's id.
            "driver": DriverOut.model_validate(driver, from_attributes=True) if driver else None,
        }  # fmt: skip
    )


def list_trials(
    store: ResultsStore, search: SearchRecord, offset: int, limit: int, state: TrialState | None
) -> TrialsOut:
    rows, total = store.list_trials(search_id=search.id, offset=offset, limit=limit, state=state)
    return TrialsOut(data=[TrialOut.model_validate(r) for r in rows], count=total, counts=_counts(store, search.id))


def pareto_front(store: ResultsStore, search: SearchRecord, cost: Cost) -> ParetoOut:
    front = accuracy_cost_front(store.all_trials(search_id=search.id, state=TrialState.COMPLETE), cost)
    data = [TrialOut.model_validate(t) for t in front.trials]  # their public fields only
    return ParetoOut(cost=cost, data=data, count=len(data), considered=front.considered, uncounted=front.uncounted)


def list_epochs(store: ResultsStore, search: SearchRecord, trial_id: int) -> EpochsOut:
    trial = store.get_trial(trial_id=trial_id)
    if trial is None or trial.search_id != search.id:
        raise NotFoundError(f"search {search.name!r} has no trial with id {trial_id}")
    data = [EpochOut.model_validate(e) for e in store.epoch_metrics(trial_id=trial_id)]
    return EpochsOut(data=data, count=len(data))


def start_search(store: ResultsStore, launcher: Launcher, settings: ApiSettings, body: SearchCreate) -> SearchLaunchOut:
    """Accept a search within the API's limits (budget x epochs, image-folder roots, searches running at
    once): a free name (given or generated), then the launcher starts `prs-search run`."""
    work = body.budget * body.epochs
    if work > settings.api_max_trial_epochs:
        raise ConfigError(
            f"budget x epochs = {body.budget} x {body.epochs} = {work} trial-epochs is more than this API starts "
            f"(PRS_API_MAX_TRIAL_EPOCHS={settings.api_max_trial_epochs}); ask for less, or run it with the CLI"
        )
    dataset = checked_dataset(body.dataset, settings.api_imagefolder_roots, settings.api_imagefolder_max_entries)
    check_known(body)  # what the child would refuse at once, refused here instead of after a 202
    if body.warm_start:
        _check_warm_start(store, body)
    if not (launcher.ray_address or os.environ.get("RAY_ADDRESS")):
        check_fits_here(body)  # the child's local Ray instance is this machine
    request = body.as_request().model_copy(update={"dataset": dataset})
    name = request.name or default_search_name(request)
    if store.get_search(name_or_id=name) is not None:
        raise ConflictError(f"a search named {name!r} exists; choose another name (or resume it with the CLI)")
    ttl_s = settings.driver_lease_ttl_s

    def elsewhere() -> set[tuple[str, int]]:
        return {(d.host, d.pid) for d in store.live_drivers(ttl_s=ttl_s, origin="api")}

    launch = launcher.launch(name, request, limit=settings.api_max_searches, elsewhere=elsewhere)
    return SearchLaunchOut(
        name=name, state="accepted" if launch.process is None else "starting", runner=launch.runner,
        pid=launch.pid, accepted_at=launch.accepted_at, location=f"{SEARCHES_PATH}/{name}",
    )  # fmt: skip


def _check_warm_start(store: ResultsStore, body: SearchCreate) -> None:
    from prs_search.surrogate import warm_start_refusal

    reason = warm_start_refusal(
        store, body.dataset, body.num_samples, model=body.model, stem=body.stem, epochs=body.epochs
    )
    if reason is not None:
        raise ConfigError(f"cannot warm-start: {reason}; ask without warm_start")


def cancel_search(
    store: ResultsStore, launcher: Launcher, settings: ApiSettings, key: str
) -> tuple[int, SearchCancelOut]:
    """Stop a search (HTTP status, body): its driver is asked to stop, or, with none running, it is marked
    cancelled at once; one this API started that has not registered yet is ended. Finished trials stay."""
    search = store.get_search(name_or_id=key)
    if search is None:
        if not launcher.stop(key):
            raise NotFoundError(f"no search with id or name {key!r}")
        search = store.get_search(name_or_id=key)  # it may have registered while it was being stopped
        if search is None:
            return 200, SearchCancelOut(name=key, status="cancelled", detail="stopped before it had registered")
    record = store.cancel_search(search_id=search.id, ttl_s=settings.driver_lease_ttl_s)
    if record.status == SearchStatus.CANCELLED:
        from prs_search.search.closing import close_running_trials  # optuna: imported with the first cancel

        close_running_trials(store, record, "cancelled on request (no driver was running it)")
        return 200, SearchCancelOut(
            name=record.name, status="cancelled", detail="no driver was running it; its finished trials are kept"
        )
    return 202, SearchCancelOut(
        name=record.name, status="cancelling",
        detail="its driver stops within a few seconds and marks it cancelled; its finished trials are kept",
    )  # fmt: skip


async def recommendation(
    store: ResultsStore, cache: RecommendationCache, dataset: str, num_samples: int | None, fraction: float | None,
    max_flops: float | None = None, max_seconds: float | None = None,
) -> bytes:  # fmt: skip
    """The body of GET /v1/recommendation (`recommend`'s answer as JSON), from the cache while the dataset's
    version is the one it was computed at (see `api.cache`).

    A coroutine, so a cached answer costs no hop to the thread pool (on a loaded machine that hop costs
    more than the rest of the request): the version is read without blocking the event loop
    (`ResultsStore.dataset_version_async`); an answer to compute (a few queries) goes to the thread pool."""
    version = await store.dataset_version_async(dataset=dataset)
    key = (num_samples, fraction, max_flops, max_seconds)
    body = cache.get(dataset, version, key)
    if body is None:
        answer = await run_in_threadpool(
            partial(recommend, max_flops=max_flops, max_seconds=max_seconds), store, dataset, num_samples, fraction
        )
        body = RecommendationOut.model_validate(answer).model_dump_json().encode()
        cache.put(dataset, version, key, body)
    return body


def _counts(store: ResultsStore, search_id: int) -> TrialCountsOut:
    return TrialCountsOut(**{str(state): n for state, n in store.trial_counts(search_id=search_id).items()})
