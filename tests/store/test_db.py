"""Engines, URLs, sessions and the errors a user sees when the database is bad or unreachable."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, OperationalError, PendingRollbackError
from sqlalchemy.orm import Session, sessionmaker

from prs_search.errors import ConfigError, StoreError
from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore, make_engine, parse_url, safe_url, session_scope
from prs_search.store.db import is_transient, run_transaction, session_factory
from prs_search.store.models import Search

UNREACHABLE = "postgresql+psycopg://postgres:s3cret-pw@127.0.0.1:1/x?connect_timeout=2"


def retries_logged(caplog: pytest.LogCaptureFixture) -> int:
    """How many times the store said it would retry (one warning per retry, `prs_search.store.db`)."""
    return sum("retrying in" in r.getMessage() for r in caplog.records if r.name == "prs_search.store.db")


def locked() -> OperationalError:
    import sqlite3

    return OperationalError("INSERT ...", {}, sqlite3.OperationalError("database is locked"))


class TestUrls:
    def test_postgres_urls_get_the_installed_driver(self) -> None:
        assert parse_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
        assert parse_url("postgres://u@h/db").drivername == "postgresql+psycopg"
        assert parse_url("sqlite:///x.db").drivername == "sqlite"

    @pytest.mark.parametrize("url", ["", "   ", "not a url", "://nothing"])
    def test_malformed_url(self, url: str) -> None:
        with pytest.raises(ConfigError, match="database URL"):
            make_engine(url)

    def test_malformed_url_hides_the_password(self) -> None:
        with pytest.raises(ConfigError) as caught:
            parse_url("postgresql://me:hunter2@host:notaport/db")
        assert "hunter2" not in str(caught.value)

    @pytest.mark.parametrize("url", ["mysql://u:pw@h/db", "oracle://u@h/db"])
    def test_unsupported_backend(self, url: str) -> None:
        with pytest.raises(ConfigError, match="SQLite and PostgreSQL") as caught:
            ResultsStore(url)
        assert ":pw@" not in str(caught.value)

    def test_unknown_driver(self) -> None:
        with pytest.raises(ConfigError, match="driver"):
            make_engine("postgresql+nosuchdriver://u@h/db")

    def test_safe_url(self) -> None:
        assert safe_url("postgresql+psycopg://u:pw@h/db") == "postgresql+psycopg://u:***@h/db"
        assert "pw" not in repr(ResultsStore(UNREACHABLE, migrate=False))


class TestUnreachable:
    def test_unreachable_postgres_is_one_clear_line(self, caplog: pytest.LogCaptureFixture) -> None:
        with pytest.raises(StoreError) as caught:
            ResultsStore(UNREACHABLE)
        message = str(caught.value)
        assert retries_logged(caplog) == 0  # reported at once: a refused connection is not retried at start-up
        assert message.startswith("cannot reach the database at postgresql+psycopg://postgres:***@127.0.0.1:1/x")
        assert "connection refused" in message
        assert "s3cret-pw" not in message and "\n" not in message

    def test_reads_retry_then_give_up(self, caplog: pytest.LogCaptureFixture) -> None:
        store = ResultsStore(UNREACHABLE, migrate=False, retries=2, backoff=0.05)
        with pytest.raises(StoreError, match="cannot reach the database") as caught:
            store.list_searches()
        assert retries_logged(caplog) == 2  # exactly `retries` more attempts, then the error
        assert "s3cret-pw" not in str(caught.value)
        assert is_transient(caught.value)

    def test_sqlite_in_a_missing_folder(self, tmp_path: Path) -> None:
        with pytest.raises(StoreError, match="does the folder exist"):
            ResultsStore(f"sqlite:///{tmp_path / 'missing' / 'prs.db'}")

    def test_missing_tables_say_what_to_do(self, tmp_path: Path) -> None:
        store = ResultsStore(f"sqlite:///{tmp_path / 'prs.db'}", migrate=False)
        with pytest.raises(StoreError, match="migrate=True"):
            store.list_searches()
        store.dispose()


class TestSqliteEngine:
    def test_pragmas(self, tmp_path: Path) -> None:
        engine = make_engine(f"sqlite:///{tmp_path / 'prs.db'}")
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000
        engine.dispose()

    def test_in_memory_database_is_shared(self) -> None:
        with ResultsStore("sqlite://") as store:
            store.create_search(NewSearch(
                name="m", dataset="d", num_samples=1, fraction=None, space="free", space_config={}, budget=1, epochs=1,
                model="tiny", model_config={}, stem="conv", seed=0, study_name="s",
            ))  # fmt: skip
            assert store.list_searches()[1] == 1


class TestSessions:
    @pytest.fixture
    def factory(self, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
        store = ResultsStore(f"sqlite:///{tmp_path / 'prs.db'}")
        yield session_factory(store.engine)
        store.dispose()

    @staticmethod
    def add_search(session: Session, name: str) -> None:
        session.add(
            Search(
                name=name,
                dataset="d",
                num_samples=1,
                space="s",
                space_config={},
                budget=1,
                epochs=1,
                model="m",
                model_config={},
                stem="conv",
                seed=0,
                study_name="x",
            )
        )

    def count(self, factory: sessionmaker[Session]) -> int:
        with session_scope(factory) as session:
            return len(session.scalars(select(Search)).all())

    def test_commits_and_rolls_back(self, factory: sessionmaker[Session]) -> None:
        with session_scope(factory) as session:
            self.add_search(session, "a")
        with pytest.raises(RuntimeError), session_scope(factory) as session:
            self.add_search(session, "b")
            session.flush()
            raise RuntimeError("boom")
        assert self.count(factory) == 1

    def test_integrity_errors_pass_through(self, factory: sessionmaker[Session]) -> None:
        with pytest.raises(IntegrityError), session_scope(factory) as session:
            self.add_search(session, "a")
            self.add_search(session, "a")

    def test_driver_errors_become_store_errors(self, factory: sessionmaker[Session]) -> None:
        with (
            pytest.raises(StoreError, match="database error at sqlite:///") as caught,
            session_scope(factory) as s,
        ):
            s.execute(text("SELECT 1 FROM WHERE"))
        assert "\n" not in str(caught.value)

    def test_transient_errors_are_retried(self, factory: sessionmaker[Session]) -> None:
        calls: list[int] = []

        def work(session: Session) -> str:
            calls.append(1)
            if len(calls) < 3:
                raise locked()
            self.add_search(session, "after-retries")
            return "done"

        assert run_transaction(factory, work, retries=3, backoff=0.01) == "done"
        assert len(calls) == 3 and self.count(factory) == 1

    def test_retries_run_out(self, factory: sessionmaker[Session]) -> None:
        calls: list[int] = []

        def work(session: Session) -> None:
            calls.append(1)
            raise locked()

        with pytest.raises(StoreError, match="database is locked"):
            run_transaction(factory, work, retries=2, backoff=0.01)
        assert len(calls) == 3

    def test_permanent_errors_are_not_retried(self, factory: sessionmaker[Session]) -> None:
        calls: list[int] = []

        def work(session: Session) -> None:
            calls.append(1)
            self.add_search(session, "dup")
            self.add_search(session, "dup")

        with pytest.raises(IntegrityError):
            run_transaction(factory, work, retries=3, backoff=0.01)
        assert len(calls) == 1

    def test_transient_classification(self) -> None:
        import sqlite3

        def wrap(exc: Exception) -> OperationalError:
            return OperationalError("stmt", {}, exc)

        assert is_transient(locked())
        assert not is_transient(wrap(sqlite3.OperationalError("no such table: x")))
        assert not is_transient(ValueError("x"))
        assert not is_transient(IntegrityError("stmt", {}, Exception("dup")))

        class PgError(Exception):
            def __init__(self, sqlstate: str | None) -> None:
                super().__init__("pg")
                self.sqlstate = sqlstate

        assert is_transient(wrap(PgError("57P01")))  # admin shutdown (server restart)
        assert is_transient(wrap(PgError("40001")))  # serialization failure
        assert is_transient(wrap(PgError(None)))  # client-side connection failure
        # Optuna went on in a session whose connection a restart had dropped, then rolled it back.
        try:
            raise optuna.exceptions.StorageInternalError("commit") from PendingRollbackError("rollback() first")
        except optuna.exceptions.StorageInternalError as wrapped:
            assert is_transient(wrapped)
        assert not is_transient(wrap(PgError("3D000")))  # database does not exist
        assert not is_transient(wrap(PgError("28P01")))  # wrong password


@pytest.mark.postgres
def test_password_with_percent_escapes(postgres_db: Any) -> None:
    """Alembic's config is an ini file: a '%' in the URL must not be read as interpolation."""
    postgres_db.reset()
    url = postgres_db.url_obj.set(password="p%@ss:/w").render_as_string(hide_password=False)
    assert "%25" in url or "%40" in url
    with ResultsStore(url) as store:  # trust authentication: any password is accepted
        assert store.list_searches() == ([], 0)
        assert "p%@ss" not in repr(store) and "***" in store.safe_url
