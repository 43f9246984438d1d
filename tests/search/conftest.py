"""Fixtures for the search tests: a clean CLI environment, the database on each backend (PostgreSQL:
`postgres_url`, tests/conftest.py)."""

from pathlib import Path

import pytest

from .helpers import cli_env


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def clean_env(cli_home: Path, tmp_path: Path) -> dict[str, str]:
    """`prs-search` subprocess environment: PRS_HOME in tmp, Ray's temp folder in tmp (to see if Ray started)."""
    return cli_env(cli_home, RAY_TMPDIR=str(tmp_path / "ray_tmp"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The results database of a search driven through the CLI: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'prs_search.db'}"
    return str(request.getfixturevalue("postgres_url"))
