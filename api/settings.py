"""The API's settings: the project's settings (`PRS_DATABASE_URL`, `RAY_ADDRESS`, ...) plus `PRS_API_*`.

Validated when the app is built, so an unsafe configuration refuses to start instead of serving. Who may
write (`POST` and `DELETE /v1/searches`):

| settings                                   | writes                 | who is answered                   |
|--------------------------------------------|------------------------|-----------------------------------|
| `PRS_API_TOKEN` (16+ random characters)    | with the bearer token  | everyone                          |
| nothing                                    | none (read-only)       | this machine only (loopback)      |
| `PRS_API_WRITES_ENABLED=false`             | none (read-only)       | everyone                          |
| `PRS_API_AUTH_DISABLED=true`               | anyone, no token       | this machine only (loopback)      |

"This machine only" is enforced on every request (client address and `Host` header, against DNS
rebinding), whatever server runs the app, so `uvicorn --factory prs_search.api.main:create_app
--host 0.0.0.0` cannot open it up. `PRS_API_WRITES_ENABLED=true` without a token is refused.
"""

import math
import os
from collections import Counter
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import NoDecode

from prs_search.errors import ConfigError
from prs_search.settings import Settings

MIN_TOKEN_LENGTH = 16
# How random a token looks: its length times the entropy of its characters' frequencies. Sixteen repeated
# characters score 0, a short pattern repeated 16 to 32; a random token of 16 hex digits almost always
# scores above 40 (a draw below it, 1 in 700, is refused: making another one is the fix), one of
# `TOKEN_RECIPE`'s over 170.
MIN_TOKEN_BITS = 40.0
TOKEN_RECIPE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
# Tokens copied from an example file (deploy/env.example) or left as their placeholder.
PLACEHOLDER_WORDS = ("change-me", "changeme", "change_me", "replace-me", "placeholder", "example", "secret-here")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
Runner = Literal["subprocess", "none"]


def _token_bits(token: str) -> float:
    """`MIN_TOKEN_BITS`'s measure: the Shannon entropy of the token's character frequencies, times its length."""
    counts = Counter(token).values()
    return -sum(n * math.log2(n / len(token)) for n in counts)


def _split(separator: str) -> BeforeValidator:
    """A list from one environment variable: `a:b` (paths, like PATH) or `a,b`; a list passes as it is."""

    def split(value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(separator) if part.strip()]
        return value

    return BeforeValidator(split)


Paths = Annotated[list[Path], NoDecode, _split(os.pathsep)]
Hosts = Annotated[list[str], NoDecode, _split(",")]


class ApiSettings(Settings):
    """Every field can be set as `PRS_<NAME>`, e.g. `PRS_API_TOKEN`."""

    api_token: SecretStr | None = Field(
        default=None, description="Bearer token that writes (POST and DELETE /v1/searches) must carry."
    )
    api_auth_disabled: bool = Field(
        default=False, description="Accept writes without a token. Only for local use on loopback."
    )
    api_writes_enabled: bool | None = Field(
        default=None,
        description="false: a read-only API that answers everyone (writes answer 403). Default: writes on when "
        "PRS_API_TOKEN is set, else read-only for this machine only.",
    )
    api_runner: Runner = Field(
        default="subprocess",
        description="How POST /v1/searches starts a search: `subprocess` runs `prs-search run` in the "
        "background; `none` validates and records the request without starting anything (tests, dry runs).",
    )
    api_runs_dir: Path | None = Field(
        default=None, description="Logs of searches started by the API; default: `home`/api-runs."
    )
    api_migrate: bool = Field(default=True, description="Create or upgrade the store's tables at start-up.")
    api_max_searches: int = Field(
        default=2,
        ge=1,
        le=1000,
        description="Searches started through the API that may run at once (counted over every API process on "
        "the database); one more answers 429.",
    )
    api_max_trial_epochs: int = Field(
        default=20_000,
        ge=1,
        description="Largest budget x epochs one POST /v1/searches may ask for (422 above it); the CLI has no limit.",
    )
    api_max_body_bytes: int = Field(
        default=65_536, ge=1024, description="Largest request body; a larger one answers 413 before it is read."
    )
    api_imagefolder_roots: Paths = Field(
        default_factory=list,
        description="Folders (separated by ':') under which POST /v1/searches may name `imagefolder:PATH`; "
        "none by default, so the API reads no server folder.",
    )
    api_imagefolder_max_entries: int = Field(
        default=200_000, ge=1, description="Most files and folders an image folder may hold (checked before use)."
    )
    api_allowed_hosts: Hosts | None = Field(
        default=None,
        description="Host header values answered (separated by ','). Default: loopback names when the API "
        "answers this machine only, else any.",
    )

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> "ApiSettings":
        # A token read from a file (`$(cat token)`, a mounted secret) often ends with a newline.
        token = self.api_token.get_secret_value().strip() if self.api_token is not None else ""
        self.api_token = SecretStr(token) if token else None
        if token and len(token) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"PRS_API_TOKEN must be at least {MIN_TOKEN_LENGTH} characters; make one with {TOKEN_RECIPE}"
            )
        if any(word in token.lower() for word in PLACEHOLDER_WORDS):
            raise ValueError(f"PRS_API_TOKEN is a placeholder: replace it by a random one, made with {TOKEN_RECIPE}")
        if token and _token_bits(token) < MIN_TOKEN_BITS:
            raise ValueError(
                "PRS_API_TOKEN is too easy to guess (repeated characters or a short pattern): replace it by a "
                f"random one, made with {TOKEN_RECIPE}"
            )
        if self.api_writes_enabled and not token and not self.api_auth_disabled:
            raise ValueError(
                "the API accepts writes (POST /v1/searches) but PRS_API_TOKEN is not set: set it, or make the "
                "API read-only with PRS_API_WRITES_ENABLED=false, or (local use only) PRS_API_AUTH_DISABLED=true"
            )
        return self

    @property
    def writes_allowed(self) -> bool:
        if self.api_writes_enabled is not None:
            return self.api_writes_enabled
        return self.api_token is not None or self.api_auth_disabled

    @property
    def local_only(self) -> bool:
        """Whether only this machine is answered: writes without a token, or no token and no choice made."""
        if self.api_auth_disabled:
            return self.writes_allowed
        return self.api_token is None and self.api_writes_enabled is None

    def allowed_hosts(self) -> tuple[str, ...] | None:
        """Host header values answered (None: any)."""
        if self.api_allowed_hosts is not None:
            return tuple(host.lower() for host in self.api_allowed_hosts)
        return LOOPBACK_HOSTS if self.local_only else None

    def resolved_runs_dir(self) -> Path:
        return self.api_runs_dir or self.home / "api-runs"


def load_settings(**overrides: object) -> ApiSettings:
    """`ApiSettings` from the environment (and `overrides`); an invalid one -> `ConfigError`, one line."""
    try:
        return ApiSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        reasons = "; ".join(_reason(error) for error in exc.errors())
        raise ConfigError(f"invalid API settings: {reasons}") from None


def _reason(error: object) -> str:
    assert isinstance(error, dict)
    where = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"PRS_{where.upper()}: {message}" if where else message
