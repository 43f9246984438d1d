"""Dependencies injected into the routes: settings, the results store, the launcher, the recommendation
cache, the write guard.

Nothing is created at import time: `create_app` puts an `ApiSettings`, a `StoreHolder`, a `Launcher` and
a `RecommendationCache` on `app.state`; tests override `get_store` (or pass settings naming their
database). The getters are `async def` on purpose: they only read `app.state`, and a plain `def` would
cost every request a hop to the thread pool per dependency.
"""

import logging
import threading
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from prs_search.errors import StoreError
from prs_search.store import ResultsStore

from .cache import RecommendationCache
from .guard import writer_refusal
from .launcher import Launcher
from .settings import ApiSettings

log = logging.getLogger(__name__)


class StoreHolder:
    """The app's one `ResultsStore` (thread-safe, pooled), opened on first use or at start-up.

    Opening migrates the tables (`PRS_API_MIGRATE`, default true). When the database is unreachable
    then, the store is opened without migrating, so the API still starts: /health says 503 and reads
    answer 503 until the database is back (a database that was also new stays without tables until
    the API restarts or any `prs-search` command opens it).
    """

    def __init__(self, settings: ApiSettings) -> None:
        self._settings = settings
        self._store: ResultsStore | None = None
        self._lock = threading.Lock()

    def get(self) -> ResultsStore:
        with self._lock:
            if self._store is None:
                self._store = self._open()
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.dispose()
                self._store = None

    def _open(self) -> ResultsStore:
        url = self._settings.resolved_database_url()
        if self._settings.api_migrate:
            try:
                return ResultsStore(url)
            except StoreError as exc:
                log.warning("could not migrate the results store at start-up: %s", exc)
        return ResultsStore(url, migrate=False)


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


async def get_store(request: Request) -> ResultsStore:
    holder: StoreHolder = request.app.state.stores
    return holder.get()  # opened by the app's start-up: a lock and an attribute here


StoreDep = Annotated[ResultsStore, Depends(get_store)]


async def get_launcher(request: Request) -> Launcher:
    launcher: Launcher = request.app.state.launcher
    return launcher


LauncherDep = Annotated[Launcher, Depends(get_launcher)]


async def get_cache(request: Request) -> RecommendationCache:
    cache: RecommendationCache = request.app.state.recommendations
    return cache


CacheDep = Annotated[RecommendationCache, Depends(get_cache)]

bearer = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer <PRS_API_TOKEN>`; needed by POST and DELETE /v1/searches.",
)


def require_writer(
    request: Request,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],  # documents the scheme
) -> None:
    """401 without a bearer token, 403 with a wrong one, or when the API is read-only (the request guard
    checked this before the body was read; here it is what OpenAPI shows, and holds for embedders)."""
    refused = writer_refusal(settings, request.headers.get("authorization"))
    if refused is not None:
        raise HTTPException(refused.status, refused.detail, headers=refused.headers)


WriterDep = Depends(require_writer)
