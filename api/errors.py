"""Every error becomes a JSON body `{"detail": ...}` with a status that says whose fault it is.

| raised                                   | status | meaning                                    |
|------------------------------------------|--------|--------------------------------------------|
| a body that is not JSON                  | 400    | `detail` says where it stops being JSON    |
| request validation (FastAPI)             | 422    | `detail` is FastAPI's list of errors       |
| `ConfigError`, `DatasetError`            | 422    | valid JSON, invalid values                 |
| `NotFoundError`                          | 404    | no such dataset, search, trial             |
| `ConflictError`                          | 409    | e.g. a search name already taken           |
| a body over `PRS_API_MAX_BODY_BYTES`     | 413    | refused before it is read                  |
| `TooManySearchesError`                   | 429    | `PRS_API_MAX_SEARCHES` searches run        |
| other `PRSError`                         | 400    |                                            |
| `StoreError`, `ClusterError`             | 503    | the database or cluster cannot be reached  |
| anything else                            | 500    | a bug: logged with its traceback           |

Bodies of 5xx answers say what is down, never how it is reached: the database URL, a host name or a
path stay in the server's log. Validation errors carry the offending input; a number JSON cannot write
(NaN, Infinity, 1e400 read as infinity) is sent as its name, as a string.
"""

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from prs_search.errors import (
    ClusterError,
    ConfigError,
    ConflictError,
    DatasetError,
    NotFoundError,
    PRSError,
    StoreError,
)

log = logging.getLogger(__name__)

__all__ = ["ConflictError", "TooManySearchesError", "install_error_handlers", "status_of"]

# What a 5xx body says instead of the error's own message (which names the database or the cluster).
_PUBLIC = {
    StoreError: "the results database cannot be reached or used; retry later (the server's log says why)",
    ClusterError: "the Ray cluster cannot be reached or used; retry later (the server's log says why)",
}


class TooManySearchesError(PRSError):
    """As many searches as the API may run at once are running (HTTP 429)."""


def status_of(error: PRSError) -> int:
    if isinstance(error, NotFoundError):
        return 404
    if isinstance(error, ConflictError):
        return 409
    if isinstance(error, TooManySearchesError):
        return 429
    if isinstance(error, StoreError | ClusterError):
        return 503
    if isinstance(error, ConfigError | DatasetError):
        return 422
    return 400


def public_detail(error: PRSError) -> str:
    """The message a client may see: the error's own, except for the server-side failures above."""
    return next((text for kind, text in _PUBLIC.items() if isinstance(error, kind)), str(error))


async def _prs_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PRSError)
    status = status_of(exc)
    if status >= 500:
        log.warning("%s %s -> %d: %s", request.method, request.url.path, status, exc)
    headers = {"Retry-After": "5"} if status == 503 else {"Retry-After": "60"} if status == 429 else None
    return JSONResponse({"detail": public_detail(exc)}, status_code=status, headers=headers)


def _json_safe(value: Any) -> Any:
    """`value` with every float JSON cannot hold (NaN, infinities) replaced by its name."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else "Infinity" if value > 0 else "-Infinity"
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    broken = next((e for e in errors if e.get("type") == "json_invalid"), None)
    if broken is not None:  # not JSON at all: the client's encoding, not its values (400, as documented)
        where = broken["loc"][-1] if broken.get("loc") else 0
        reason = broken.get("ctx", {}).get("error", "not JSON")
        return JSONResponse({"detail": f"the body is not valid JSON: {reason} (at character {where})"}, status_code=400)
    return JSONResponse({"detail": _json_safe(jsonable_encoder(errors))}, status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The server logs the traceback too (Starlette re-raises after answering): one line here.
    log.error("%s %s failed: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return JSONResponse({"detail": "internal error (logged on the server)"}, status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PRSError, _prs_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
