"""The FastAPI app: `create_app(settings)` builds it; nothing (engine, settings) exists at import time.

Serve it with `prs-search serve`, or `uvicorn --factory prs_search.api.main:create_app` (the folder api/
installs as the package `prs_search.api`). Either way the request guard (`api.guard`) enforces who is
answered, and the searches this app started end when it stops (`Launcher.shutdown`).
"""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import prs_search
from prs_search.store import parse_url

from .cache import RecommendationCache
from .deps import StoreHolder
from .errors import install_error_handlers
from .guard import RequestGuard
from .launcher import Launcher
from .routes import api_router
from .settings import ApiSettings, load_settings

log = logging.getLogger(__name__)

DESCRIPTION = """
Best per-layer conv -> self-attention switch schedules of a hybrid ViT, per dataset and dataset size
(Progressive Reparameterization Scheduling), found by Ray Tune + Optuna searches recorded in SQL.

- `GET /v1/recommendation?dataset=cifar100&num_samples=10000`: the schedule to use, with provenance.
- `GET /v1/searches/{id or name}`: a search and its live state; `POST /v1/searches` starts one,
  `DELETE /v1/searches/{id or name}` cancels one (bearer token).
- Errors are JSON `{"detail": ...}`: 400 not JSON, 401/403 token, 404 not found, 409 conflict,
  413 body too large, 422 invalid input, 429 too many searches running, 503 database unreachable.
"""

TAGS = [
    {"name": "recommendation", "description": "The schedule for a dataset size."},
    {"name": "datasets", "description": "What has been searched."},
    {"name": "searches", "description": "Searches, their trials and per-epoch metrics; start a search."},
    {"name": "health", "description": "Readiness: 503 when the database is unreachable."},
]


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """The app for `settings` (default: from the environment; unsafe settings -> `ConfigError`)."""
    settings = settings or load_settings()
    database_url = settings.resolved_database_url()
    parse_url(database_url)  # a malformed URL fails here, not on the first request
    stores = StoreHolder(settings)
    launcher = Launcher(
        runner=settings.api_runner,
        runs_dir=settings.resolved_runs_dir(),
        database_url=database_url,
        ray_address=settings.ray_address,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(stores.get)  # connect and migrate before serving
        try:
            yield
        finally:
            await run_in_threadpool(launcher.shutdown)  # the searches it started end with it
            stores.close()

    app = FastAPI(
        title="prs-search",
        version=prs_search.__version__,
        description=DESCRIPTION,
        openapi_tags=TAGS,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.stores = stores
    app.state.launcher = launcher
    app.state.recommendations = RecommendationCache()
    install_error_handlers(app)
    app.include_router(api_router)
    app.add_middleware(RequestGuard, settings=settings)
    if settings.api_auth_disabled and settings.writes_allowed:
        log.warning("PRS_API_AUTH_DISABLED=true: any process on this machine can start searches")
    elif settings.local_only:
        log.warning("no PRS_API_TOKEN: read-only, answering this machine only; set PRS_API_TOKEN to enable writes")
    return app
