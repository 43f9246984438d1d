"""Every error becomes a JSON body `{"detail": ...}` with a status that says whose fault it is.

| raised                                   | status | meaning                                    |
|------------------------------------------|--------|--------------------------------------------|
| request validation (FastAPI)             | 422    | `detail` is FastAPI's list of errors       |
| `ConfigError`, `DatasetError`            | 422    | valid JSON, invalid values                 |
| `NotFoundError`                          | 404    | no such dataset, search, trial             |
| `ConflictError`                          | 409    | e.g. a search name already taken           |
| other `PRSError`                         | 400    |                                            |
| `StoreError`, `ClusterError`             | 503    | the database or cluster cannot be reached  |
| anything else                            | 500    | a bug: logged with its traceback           |
"""

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from prs_search.errors import ClusterError, ConfigError, DatasetError, NotFoundError, PRSError, StoreError

log = logging.getLogger(__name__)


class ConflictError(PRSError):
    """The request conflicts with what exists (HTTP 409)."""


def status_of(error: PRSError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, StoreError | ClusterError):
        return 503
    if isinstance(error, ConfigError | DatasetError):
        return 422
    return 400


async def _prs_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PRSError)
    status = status_of(exc)
    if status >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, status, exc)
    headers = {"Retry-After": "5"} if status == 503 else None
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The server logs the traceback too (Starlette re-raises after answering): one line here.
    log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PRSError, _prs_error)
    app.add_exception_handler(Exception, _unexpected)
