"""/v1/searches: list, read (live trial counts while running), trials, epochs, the accuracy-compute front;
start and cancel a search."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from prs_search.field_types import DATASET_LENGTH, MAX_INT32, MAX_PAGE, NAME_LENGTH, Cost, SearchStatus, TrialState

from .. import services
from ..deps import LauncherDep, SettingsDep, StoreDep, WriterDep
from ..schemas import (
    TEXT_PATTERN,
    EpochsOut,
    ParetoOut,
    SearchCancelOut,
    SearchCreate,
    SearchDetailOut,
    SearchesOut,
    SearchLaunchOut,
    TrialsOut,
)
from .responses import CONFLICT, INVALID, MALFORMED, NOT_FOUND, STORE_DOWN, TOO_LARGE, TOO_MANY, WRITE_REFUSED

router = APIRouter(prefix="/searches", tags=["searches"])

Offset = Annotated[int, Query(ge=0, le=MAX_INT32)]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE)]
SearchKey = Annotated[
    str, Path(description="The search's id or name.", max_length=NAME_LENGTH, pattern=TEXT_PATTERN, examples=["3"])
]
TrialId = Annotated[int, Path(ge=1, le=MAX_INT32)]
DatasetFilter = Annotated[str | None, Query(min_length=1, max_length=DATASET_LENGTH, pattern=TEXT_PATTERN)]
READ_ERRORS = {**INVALID, **STORE_DOWN}
CostQuery = Annotated[
    Cost, Query(description="`flops` (training FLOPs counted over the epochs) or `seconds` (training time).")
]


@router.get("", responses=READ_ERRORS)
def read_searches(
    store: StoreDep,
    offset: Offset = 0,
    limit: Limit = 50,
    dataset: DatasetFilter = None,
    status: SearchStatus | None = None,
) -> SearchesOut:
    """Newest first; `count` is the number matching the filters."""
    return services.list_searches(store, offset, limit, dataset, status)


@router.post(
    "",
    status_code=202,
    dependencies=[WriterDep],
    responses={
        202: {"headers": {"Location": {"description": "Where the search appears.", "schema": {"type": "string"}}}},
        **MALFORMED, **WRITE_REFUSED, **CONFLICT, **TOO_LARGE, **INVALID, **TOO_MANY, **STORE_DOWN,
    },
)  # fmt: skip
def create_search(
    body: SearchCreate, store: StoreDep, launcher: LauncherDep, settings: SettingsDep, response: Response
) -> SearchLaunchOut:
    """Start `prs-search run` with these options in the background (bearer token needed). The search
    is at `Location` once it has loaded its data and registered; until then that answers 404 with a
    sentence saying it is starting, or that it failed. Limits: budget x epochs at most
    PRS_API_MAX_TRIAL_EPOCHS (422), PRS_API_MAX_SEARCHES running at once (429), image folders only under
    PRS_API_IMAGEFOLDER_ROOTS (422)."""
    launch = services.start_search(store, launcher, settings, body)
    response.headers["Location"] = launch.location
    return launch


@router.delete(
    "/{search}",
    dependencies=[WriterDep],
    responses={202: {"model": SearchCancelOut, "description": "Its driver is stopping."},
               **WRITE_REFUSED, **NOT_FOUND, **CONFLICT, **READ_ERRORS},
)  # fmt: skip
def delete_search(
    search: SearchKey, store: StoreDep, launcher: LauncherDep, settings: SettingsDep, response: Response
) -> SearchCancelOut:
    """Cancel a search (bearer token needed): its driver stops its trials and marks it `cancelled` (202,
    within a few seconds), or, with no driver running it, it is marked at once (200). Finished trials
    are kept; a cancelled search is not resumed. 409: it finished, failed or was cancelled already."""
    status, body = services.cancel_search(store, launcher, settings, search)
    response.status_code = status
    return body


@router.get("/{search}", responses={**NOT_FOUND, **READ_ERRORS})
def read_search(search: SearchKey, store: StoreDep, launcher: LauncherDep, settings: SettingsDep) -> SearchDetailOut:
    """One search with its live state: trials by state, progress, best trial so far, and its driver."""
    found = services.find_search(store, launcher, search)
    return services.search_detail(store, found, settings.driver_lease_ttl_s)


@router.get("/{search}/trials", responses={**NOT_FOUND, **READ_ERRORS})
def read_trials(
    search: SearchKey,
    store: StoreDep,
    launcher: LauncherDep,
    offset: Offset = 0,
    limit: Limit = 100,
    state: TrialState | None = None,
) -> TrialsOut:
    """Trials in the order they started, optionally one state; `counts` covers all of them."""
    record = services.find_search(store, launcher, search)
    return services.list_trials(store, record, offset, limit, state)


@router.get("/{search}/pareto", responses={**NOT_FOUND, **READ_ERRORS})
def read_pareto(search: SearchKey, store: StoreDep, launcher: LauncherDep, cost: CostQuery = "flops") -> ParetoOut:
    """The accuracy-compute front: the complete trials that no other trial beats in both validation accuracy
    and cost, cheapest first. With `cost=flops`, trials trained before FLOPs were counted are not candidates
    (`uncounted` says how many)."""
    return services.pareto_front(store, services.find_search(store, launcher, search), cost)


@router.get("/{search}/trials/{trial_id}/epochs", responses={**NOT_FOUND, **READ_ERRORS})
def read_epochs(search: SearchKey, trial_id: TrialId, store: StoreDep, launcher: LauncherDep) -> EpochsOut:
    """One trial's per-epoch metrics (the learning curve), in order."""
    return services.list_epochs(store, services.find_search(store, launcher, search), trial_id)
