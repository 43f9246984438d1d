"""Fixtures for the search tests: a throw-away PostgreSQL database, a clean CLI environment.

PostgreSQL: the server at `PRS_TEST_POSTGRES_URL`, else postgres@127.0.0.1:5432/test (as the store
tests). A fresh database `prs_search_test_<uuid>` is created through an AUTOCOMMIT admin connection
and dropped afterwards. Unreachable server: skipped, or a failure when `CI` is set.
"""

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from prs_search.store import parse_url, safe_url
from prs_search.store.db import describe

from .helpers import cli_env

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """The URL of a fresh, empty PostgreSQL database, dropped when the module's tests are done."""
    server = parse_url(os.environ.get("PRS_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {safe_url(server)}: {describe(exc)}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must provide PostgreSQL; set PRS_TEST_POSTGRES_URL)")
        pytest.skip(message)
    name = f"prs_search_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            # The search's pooled connections (store, Optuna) may still be open in this process.
            others = (
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n AND pid <> pg_backend_pid()"
            )
            conn.execute(text(others), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        admin.dispose()


@pytest.fixture
def cli_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture
def clean_env(cli_home: Path, tmp_path: Path) -> dict[str, str]:
    """`prs-search` subprocess environment: PRS_HOME in tmp, Ray's temp folder in tmp (to see if Ray started)."""
    return cli_env(cli_home, RAY_TMPDIR=str(tmp_path / "ray_tmp"))
