"""Fixtures for the results-store tests: every backend (SQLite file, PostgreSQL) behind one `store`.

PostgreSQL: `PRS_TEST_POSTGRES_URL`, else postgres@127.0.0.1:5432/test. A fresh database
`prs_test_<uuid>` is created for the test session and dropped at its end; every test starts from an
empty schema in it. Unreachable server: the PostgreSQL tests are skipped, or fail when `CI` is set.
"""

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import URL, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from prs_search.store import ResultsStore, SearchRecord, parse_url, safe_url
from prs_search.store.db import describe

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class PostgresDatabase:
    """One throw-away database on the test server, reset to an empty schema per test."""

    def __init__(self, admin: Engine, server_url: URL) -> None:
        self.admin = admin
        self.name = f"prs_test_{uuid.uuid4().hex[:16]}"
        self.url_obj = server_url.set(database=self.name)
        self.url = self.url_obj.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.engine = create_engine(self.url_obj, isolation_level="AUTOCOMMIT", poolclass=NullPool)

    def reset(self) -> None:
        """Drop everything (our tables, optuna's, version tables) by re-creating the public schema."""
        self.terminate_others()
        with self.engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))

    def terminate_others(self) -> None:
        """Close every other session on this database (as a server restart would)."""
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
def postgres_db() -> Iterator[PostgresDatabase]:
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
    database = PostgresDatabase(admin, server_url)
    try:
        yield database
    finally:
        database.drop()
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """The URL of an empty database on `backend`."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'prs.db'}"
    database: PostgresDatabase = request.getfixturevalue("postgres_db")
    database.reset()
    return database.url


@pytest.fixture
def store(empty_url: str) -> Iterator[ResultsStore]:
    results = ResultsStore(empty_url)
    try:
        yield results
    finally:
        results.dispose()


SEARCH_DEFAULTS: dict[str, Any] = {
    "dataset": "cifar100",
    "num_samples": 5000,
    "fraction": 0.1,
    "space": "free",
    "space_config": {"name": "free", "layers": 4, "epochs": 10},
    "budget": 20,
    "epochs": 10,
    "model": "tiny",
    "model_config": {"depth": 4, "dim": 64},
    "stem": "conv",
    "seed": 0,
}


@pytest.fixture
def new_search(store: ResultsStore) -> Callable[..., SearchRecord]:
    """Factory: `new_search("name", dataset=..., ...)` with sensible defaults."""

    def make(name: str = "search-1", **overrides: Any) -> SearchRecord:
        fields = {**SEARCH_DEFAULTS, "study_name": f"study-{name}", **overrides}
        return store.create_search(name=name, **fields)

    return make


@pytest.fixture
def run_trial(store: ResultsStore) -> Callable[..., int]:
    """Factory: start a trial, report `accs` (one per epoch, `seconds` each), finish it; returns its id."""

    def run(
        search_id: int,
        key: str,
        accs: list[float],
        *,
        state: str = "COMPLETE",
        seconds: float = 1.0,
        schedule: tuple[int, ...] = (4, 3, 2, 1),
    ) -> int:
        trial = store.start_trial(search_id, key, list(schedule), {"e": list(schedule)})
        for epoch, acc in enumerate(accs):
            store.record_epoch(search_id, key, epoch, {"val_acc": acc, "seconds": seconds})
        if state != "RUNNING":
            store.finish_trial(search_id, key, state)
        return trial.id

    return run
