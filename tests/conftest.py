"""What every test folder shares: one torch thread, throw-away PostgreSQL databases, the results store
and the app on it, and Hypothesis's profiles.

The server: `PRS_TEST_POSTGRES_URL`, else postgres@127.0.0.1:5432/test. Databases `prs_test_<uuid>`
are created through an AUTOCOMMIT admin connection and dropped afterwards. An unreachable server skips
the PostgreSQL tests, or fails them when `CI` is set (CI must provide PostgreSQL).
"""

import os
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from factories import LOCAL_BASE_URL, LOCAL_CLIENT, Rows, api_settings
from fastapi.testclient import TestClient
from hypothesis import settings
from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from prs_search.store import ResultsStore, parse_url, safe_url
from prs_search.store.db import describe

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# In CI the property-based tests (the API fuzzer among them) draw the same examples on every run, so a
# red CI means the change broke something; on developers' machines they keep exploring new inputs.
# No per-example deadline in either: it is a wall-clock assertion, which a loaded machine fails.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", derandomize=True, deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session", autouse=True)
def _one_thread() -> Iterator[None]:
    """One intra-op thread in every test: on small shared CPUs it is faster than oversubscription, and the
    tests compute as the `prs-search` subprocesses they start (OMP_NUM_THREADS=1) do, so both sum in one
    order and agree exactly."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class PostgresDatabase:
    """One throw-away database on the test server."""

    def __init__(self, admin: Engine, server_url: URL) -> None:
        self.admin = admin
        self.name = f"prs_test_{uuid.uuid4().hex[:16]}"
        self.url_obj = server_url.set(database=self.name)
        self.url = self.url_obj.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.engine = create_engine(self.url_obj, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def reset(self) -> str:
        """Drop everything (our tables, Optuna's, version tables): an empty schema; returns the URL."""
        self.terminate_others()
        with self.engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        return self.url

    def terminate_others(self) -> None:
        """Close every other session on this database (as a server restart would), e.g. pooled ones."""
        with self.admin.connect() as conn:
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": self.name},
            )

    def drop(self) -> None:
        self.engine.dispose()
        self.terminate_others()
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[tuple[Engine, URL]]:
    """An AUTOCOMMIT connection pool to the test server, and the server's URL."""
    server_url = parse_url(os.environ.get("PRS_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL)
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except DBAPIError as exc:
        admin.dispose()
        message = f"PostgreSQL is not reachable at {safe_url(server_url)}: {describe(exc)}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must provide PostgreSQL; set PRS_TEST_POSTGRES_URL)")
        pytest.skip(message)
    try:
        yield admin, server_url
    finally:
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_db(postgres_admin: tuple[Engine, URL]) -> Iterator[PostgresDatabase]:
    """One database for the session; a test that uses it calls `reset()` first."""
    database = PostgresDatabase(*postgres_admin)
    try:
        yield database
    finally:
        database.drop()


@pytest.fixture(scope="module")
def postgres_url(postgres_admin: tuple[Engine, URL]) -> Iterator[str]:
    """The URL of a fresh, empty database of its own for a module's tests (a search's, say)."""
    database = PostgresDatabase(*postgres_admin)
    try:
        yield database.url
    finally:
        database.drop()


@contextmanager
def _inside_a_write(url: str, search_id: int) -> Iterator[None]:
    """Hold, until the block ends, what a driver inside a write to search `search_id` holds: SQLite's write
    lock (the whole file), or PostgreSQL's row locks on the search and its lease. Taking it waits for a
    writer that is inside its transaction now to commit."""
    parsed = parse_url(url)
    if parsed.get_backend_name() == "sqlite":
        connection = sqlite3.connect(str(parsed.database), timeout=600, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
        finally:
            connection.close()  # rolls back
        return
    engine = create_engine(parsed, poolclass=NullPool)
    try:
        with engine.connect() as conn, conn.begin():
            conn.execute(text("SELECT id FROM prs_searches WHERE id = :id FOR UPDATE"), {"id": search_id})
            conn.execute(text("SELECT 1 FROM prs_driver_leases WHERE search_id = :id FOR UPDATE"), {"id": search_id})
            yield
    finally:
        engine.dispose()


@pytest.fixture
def inside_a_write() -> Callable[[str, int], AbstractContextManager[None]]:
    """`with inside_a_write(url, search_id):` a live driver's long write, as the next driver meets it."""
    return _inside_a_write


# -- the results store ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'prs.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest, sqlite_url: str) -> str:
    """The URL of an empty database on `backend` (PostgreSQL: `postgres_db`, reset)."""
    if backend == "sqlite":
        return sqlite_url
    return str(request.getfixturevalue("postgres_db").reset())


@pytest.fixture
def store_url(sqlite_url: str) -> str:
    """The database `store` opens: a SQLite file (tests/store/ overrides it with every backend)."""
    return sqlite_url


@pytest.fixture
def store(store_url: str) -> Iterator[ResultsStore]:
    results = ResultsStore(store_url)
    try:
        yield results
    finally:
        results.dispose()


@pytest.fixture
def rows(store: ResultsStore) -> Rows:
    return Rows(store)


# -- the API on that store --------------------------------------------------------------------------


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's PRS_* / RAY_ADDRESS variables must not leak into the settings under test."""
    for name in list(os.environ):
        if (name.startswith("PRS_") and not name.startswith("PRS_TEST_")) or name == "RAY_ADDRESS":
            monkeypatch.delenv(name)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    """`make_client(url, **settings)`: a started TestClient for an app on that database, calling from loopback."""
    from prs_search.api.main import create_app  # the app only where a test asks for it

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
