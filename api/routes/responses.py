"""Documented error responses shared by the routes (bodies: see `api.errors`)."""

from typing import Any

from ..schemas import ErrorOut, UnprocessableOut

NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorOut, "description": "Not found."}}
MALFORMED: dict[int | str, dict[str, Any]] = {400: {"model": ErrorOut, "description": "A body that is not JSON."}}
INVALID: dict[int | str, dict[str, Any]] = {422: {"model": UnprocessableOut, "description": "Invalid input."}}
STORE_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"model": ErrorOut, "description": "The database cannot be reached; retry later (Retry-After)."}
}
WRITE_REFUSED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "No bearer token."},
    403: {"model": ErrorOut, "description": "Wrong token, or a read-only API."},
}
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ErrorOut, "description": "The name is taken."}}
TOO_LARGE: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorOut, "description": "A body over PRS_API_MAX_BODY_BYTES (not read)."}
}
TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"model": ErrorOut, "description": "PRS_API_MAX_SEARCHES searches started here are running (Retry-After)."}
}
