"""Fixtures for the API tests: settings, databases (SQLite file; PostgreSQL), store rows, clients.

PostgreSQL: `PRS_TEST_POSTGRES_URL`, else postgres@127.0.0.1:5432/test. A fresh database
`prs_api_test_<uuid>` is created for the test session and dropped at its end; each test using it starts
from an empty schema. Unreachable server: those tests are skipped, or fail when `CI` is set.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_factories import PostgresDatabase, Rows, api_settings
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from api.main import create_app
from prs_search.store import ResultsStore, parse_url, safe_url

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's PRS_* / RAY_ADDRESS variables must not leak into the settings under test."""
    for name in list(os.environ):
        if (name.startswith("PRS_") and not name.startswith("PRS_TEST_")) or name == "RAY_ADDRESS":
            monkeypatch.delenv(name)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'prs.db'}"


# -- PostgreSQL -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_db() -> Iterator[PostgresDatabase]:
    server_url = parse_url(os.environ.get("PRS_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {safe_url(server_url)}: {type(exc.orig).__name__}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must provide PostgreSQL; set PRS_TEST_POSTGRES_URL)")
        pytest.skip(message)
    database = PostgresDatabase(admin, server_url)
    try:
        yield database
    finally:
        database.drop()
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The URL of an empty database on each backend."""
    if request.param == "sqlite":
        return sqlite_url
    database: PostgresDatabase = request.getfixturevalue("postgres_db")
    return database.reset()


@pytest.fixture
def store(sqlite_url: str) -> Iterator[ResultsStore]:
    results = ResultsStore(sqlite_url)
    try:
        yield results
    finally:
        results.dispose()


@pytest.fixture
def rows(store: ResultsStore) -> Rows:
    return Rows(store)


# -- clients ----------------------------------------------------------------------------------------


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """`make_client(url, **settings)`: a started TestClient for an app on that database."""
    clients: list[TestClient] = []

    def make(url: str, **overrides: Any) -> TestClient:
        client = TestClient(create_app(api_settings(url, tmp_path / "home", **overrides)))
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(sqlite_url: str, store: ResultsStore, make_client: Callable[..., TestClient]) -> TestClient:
    """An app on the same SQLite database as `store` / `rows`."""
    return make_client(sqlite_url)
