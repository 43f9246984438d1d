"""Dependencies injected into the routes: settings, the results store, the launcher, the write guard.

Nothing is created at import time: `create_app` puts an `ApiSettings`, a `StoreHolder` and a
`Launcher` on `app.state`; tests override `get_store` (or pass settings naming their database).
"""

import logging
import secrets
import threading
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from prs_search.errors import StoreError
from prs_search.store import ResultsStore

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


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]


def get_store(request: Request) -> Iterator[ResultsStore]:
    holder: StoreHolder = request.app.state.stores
    yield holder.get()


StoreDep = Annotated[ResultsStore, Depends(get_store)]


def get_launcher(request: Request) -> Launcher:
    launcher: Launcher = request.app.state.launcher
    return launcher


LauncherDep = Annotated[Launcher, Depends(get_launcher)]

bearer = HTTPBearer(
    auto_error=False,
    description="`Authorization: Bearer <PRS_API_TOKEN>`; needed by POST /v1/searches.",
)


def require_writer(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """401 without a bearer token, 403 with a wrong one, or when the API is read-only."""
    if not settings.api_writes_enabled:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this API is read-only (PRS_API_WRITES_ENABLED=false)")
    if settings.api_auth_disabled:
        return
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "this request needs the header 'Authorization: Bearer <PRS_API_TOKEN>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    assert settings.api_token is not None  # ApiSettings refuses writes without a token
    expected = settings.api_token.get_secret_value().encode()
    if not secrets.compare_digest(credentials.credentials.encode(), expected):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid bearer token")


WriterDep = Depends(require_writer)
