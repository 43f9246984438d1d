"""What every request passes before the app reads a byte of its body (an ASGI middleware).

1. An API that answers this machine only (`ApiSettings.local_only`: no token) refuses a client that is
   not on loopback, whatever address the server listens on (`uvicorn --host 0.0.0.0` included).
2. The `Host` header must be one of `ApiSettings.allowed_hosts()` (loopback names in that mode): a web
   page that re-binds its own host name to 127.0.0.1 (DNS rebinding) cannot talk to the API.
3. A write (POST, PUT, PATCH, DELETE) is checked for its bearer token here, from the headers: a request
   without the right token is answered 401 / 403 before its body is received, so an unauthenticated
   client cannot make the server read (and parse) a large body. The route's `require_writer` dependency
   runs the same check, `writer_refusal`, and is what OpenAPI documents.

4. A body larger than `PRS_API_MAX_BODY_BYTES` is refused with 413: from its Content-Length before a byte
   is read, or, sent without one, as soon as the bytes read pass the limit.

Every refusal is a JSON `{"detail": ...}` body, as the app's own errors are. Starlette's
`TrustedHostMiddleware` does (2) and FastAPI's `max_body_size` does (4), but both answer in plain text
(FastAPI's limit turns any answer to an over-long Content-Length into text/plain), and neither knows (1)
or (3): hence this small middleware.
"""

import ipaddress
import secrets

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .settings import ApiSettings

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Refusal(Exception):
    """A request refused before the app runs: its status, detail and headers."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.detail}, status_code=self.status, headers=self.headers)


def writer_refusal(settings: ApiSettings, authorization: str | None) -> Refusal | None:
    """Why a write is refused (None: it may go on): 401 without a bearer token, 403 with a wrong one or when
    the API is read-only."""
    if not settings.writes_allowed:
        explicit = settings.api_writes_enabled is not None
        how = "PRS_API_WRITES_ENABLED=false" if explicit else "no PRS_API_TOKEN is set; set one to enable writes"
        return Refusal(403, f"this API is read-only ({how})")
    if settings.api_auth_disabled:
        return None
    scheme, _, credentials = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        return Refusal(
            401, "this request needs the header 'Authorization: Bearer <PRS_API_TOKEN>'", {"WWW-Authenticate": "Bearer"}
        )
    assert settings.api_token is not None  # ApiSettings refuses writes without a token
    expected = settings.api_token.get_secret_value().encode()
    if not secrets.compare_digest(credentials.strip().encode(), expected):
        return Refusal(403, "invalid bearer token")
    return None


def is_loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The name in a Host header, without its port ("[::1]:8000" -> "[::1]")."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def refusal(settings: ApiSettings, scope: Scope) -> Refusal | None:
    """Why this request is refused before the app sees it (None: it is not)."""
    headers = Headers(scope=scope)
    if settings.local_only:
        client = scope.get("client")
        if not is_loopback(client[0] if client else None):
            return Refusal(
                403, "this API answers this machine only (no PRS_API_TOKEN is set); set PRS_API_TOKEN to serve others"
            )
    allowed = settings.allowed_hosts()
    if allowed is not None and host_name(headers.get("host", "")) not in allowed:
        return Refusal(400, "invalid Host header (PRS_API_ALLOWED_HOSTS lists the names this API answers to)")
    if scope.get("method", "GET").upper() in WRITE_METHODS and (
        refused := writer_refusal(settings, headers.get("authorization"))
    ):
        return refused
    length = (headers.get("content-length") or "0").strip()
    if not length.isdigit():
        return Refusal(400, "invalid Content-Length")
    if int(length) > settings.api_max_body_bytes:
        return Refusal(413, _too_large(settings))
    return None


def _too_large(settings: ApiSettings) -> str:
    return f"the body is larger than {settings.api_max_body_bytes} bytes (PRS_API_MAX_BODY_BYTES)"


class RequestGuard:
    def __init__(self, app: ASGIApp, settings: ApiSettings) -> None:
        self.app, self.settings = app, settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if (refused := refusal(self.settings, scope)) is not None:
            await refused.response()(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.settings.api_max_body_bytes:
                # Raised into the body read: FastAPI passes an HTTPException on to its JSON handler.
                raise HTTPException(413, _too_large(self.settings))
            return message

        await self.app(scope, limited, send)
