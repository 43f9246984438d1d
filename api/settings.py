"""The API's settings: the project's settings (`PRS_DATABASE_URL`, `RAY_ADDRESS`, ...) plus `PRS_API_*`.

Validated when the app is built, so an unsafe configuration refuses to start instead of serving:
an API that accepts writes (`POST /v1/searches`) needs `PRS_API_TOKEN` (16+ characters), unless it is
read-only (`PRS_API_WRITES_ENABLED=false`) or authentication is explicitly switched off for local use
(`PRS_API_AUTH_DISABLED=true`; `prs-search serve` then refuses to listen beyond loopback).
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator

from prs_search.errors import ConfigError
from prs_search.settings import Settings

MIN_TOKEN_LENGTH = 16
Runner = Literal["subprocess", "none"]


class ApiSettings(Settings):
    """Every field can be set as `PRS_<NAME>`, e.g. `PRS_API_TOKEN`."""

    api_token: SecretStr | None = Field(
        default=None, description="Bearer token that writes (POST /v1/searches) must carry."
    )
    api_auth_disabled: bool = Field(
        default=False, description="Accept writes without a token. Only for local use on loopback."
    )
    api_writes_enabled: bool = Field(default=True, description="false: a read-only API (POST answers 403).")
    api_runner: Runner = Field(
        default="subprocess",
        description="How POST /v1/searches starts a search: `subprocess` runs `prs-search run` in the "
        "background; `none` validates and records the request without starting anything (tests, dry runs).",
    )
    api_runs_dir: Path | None = Field(
        default=None, description="Logs of searches started by the API; default: `home`/api-runs."
    )
    api_migrate: bool = Field(default=True, description="Create or upgrade the store's tables at start-up.")

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> "ApiSettings":
        token = self.api_token.get_secret_value() if self.api_token is not None else ""
        if self.api_token is not None and len(token.strip()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"PRS_API_TOKEN must be at least {MIN_TOKEN_LENGTH} characters")
        if self.api_writes_enabled and not token and not self.api_auth_disabled:
            raise ValueError(
                "the API accepts writes (POST /v1/searches) but PRS_API_TOKEN is not set: set it, or make the "
                "API read-only with PRS_API_WRITES_ENABLED=false, or (local use only) PRS_API_AUTH_DISABLED=true"
            )
        return self

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
