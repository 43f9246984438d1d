"""Settings read from the environment (`PRS_*`) with embedded defaults: local Ray, SQLite, ~/.prs-search."""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path.home() / ".prs-search"


class Settings(BaseSettings):
    """Where things live. Every field can be set as `PRS_<NAME>` (e.g. `PRS_DATABASE_URL`)."""

    model_config = SettingsConfigDict(env_prefix="PRS_", env_file=".env", extra="ignore")

    home: Path = Field(default_factory=_default_home, description="Folder for the default database and runs.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in `home`.")
    data_dir: Path | None = Field(default=None, description="Dataset root; default: `home`/data.")
    ray_address: str | None = Field(default=None, description="Ray cluster address; default: start Ray locally.")
    storage_path: Path | None = Field(default=None, description="Ray Tune results; default: `home`/ray_results.")
    driver_heartbeat_s: float = Field(
        default=5.0, gt=0.0, description="How often a search driver refreshes its lease and looks for a cancel."
    )
    driver_lease_ttl_s: float = Field(
        default=60.0,
        gt=0.0,
        description="A driver on another machine whose heartbeat is older than this is taken to be dead "
        "(on the same machine its process is checked instead).",
    )

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{self.home / 'prs_search.db'}"

    def resolved_data_dir(self) -> Path:
        return self.data_dir or self.home / "data"

    def resolved_storage_path(self) -> Path:
        return self.storage_path or self.home / "ray_results"


@lru_cache
def get_settings() -> Settings:
    return Settings()
