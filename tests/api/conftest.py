"""Fixtures for the API tests: settings, databases (SQLite file; PostgreSQL), store rows, clients.

PostgreSQL: the session's `postgres_db` (tests/conftest.py); each test using it starts from an empty schema.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_factories import LOCAL_BASE_URL, LOCAL_CLIENT, Rows, api_settings
from fastapi.testclient import TestClient

from prs_search.api.main import create_app
from prs_search.store import ResultsStore


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend_url(request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The URL of an empty database on each backend."""
    if request.param == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("postgres_db").reset())


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
    """`make_client(url, **settings)`: a started TestClient for an app on that database, calling from loopback."""
    clients: list[TestClient] = []

    def make(url: str, **overrides: Any) -> TestClient:
        # As a client on this machine: an API without a token answers loopback only.
        app = create_app(api_settings(url, tmp_path / "home", **overrides))
        client = TestClient(app, base_url=LOCAL_BASE_URL, client=LOCAL_CLIENT)
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
