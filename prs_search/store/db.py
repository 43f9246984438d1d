"""Engines, sessions and transactions for the results store, and the driver errors they turn into.

- `make_engine(url)`: SQLite (file: WAL journal, busy timeout, foreign keys on, writers take the lock
  at BEGIN so they queue instead of failing) or PostgreSQL (`pool_pre_ping`, a connect timeout).
  `postgresql://` URLs are read as `postgresql+psycopg://` (psycopg 3 is the installed driver).
- `session_scope(factory)`: owns commit, rollback and close; driver errors become `StoreError`
  with one line that names the database (password hidden) and the reason.
- `run_transaction(factory, work)`: runs `work(session)` in one transaction and runs it again, with
  backoff, when the failure was transient (connection lost or refused, server restarting, SQLite
  busy, serialization failure), so a PostgreSQL restart during a search is survived. `work` must
  therefore be safe to run twice. `retry_transient(call)` does the same for any other database call
  (the Optuna storage's), and `PATIENT_RETRIES` is how long a search driver keeps trying. Both retry
  with tenacity (`retrying`): the `is_transient` predicate, exponential backoff with jitter, a warning
  before every wait.
"""

import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError, PendingRollbackError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from prs_search.errors import ConfigError, StoreError

log = logging.getLogger(__name__)

T = TypeVar("T")

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
SQLITE_BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10
MAX_BACKOFF_S = 5.0
# Retries for a long-running writer (the search driver): backoff 0.2 s doubling up to MAX_BACKOFF_S
# (plus up to 0.2 s of jitter) gives ~40 s, well past a PostgreSQL restart (well under a second, seconds
# with crash recovery); hours of search must not be lost to one.
PATIENT_RETRIES = 12
# SQLSTATE classes worth retrying: connection exception, transaction rollback (serialization failure,
# deadlock), insufficient resources, operator intervention (admin/crash shutdown, cannot connect now).
_TRANSIENT_SQLSTATES = ("08", "40", "53", "57P")
_URL_EXAMPLES = "e.g. sqlite:///path/to/prs.db or postgresql+psycopg://user:password@host:5432/dbname"
# Execution option read by the SQLite `begin` hook: "IMMEDIATE" takes the write lock at BEGIN.
SQLITE_BEGIN = "prs_sqlite_begin"


def parse_url(url: str | URL) -> URL:
    """A checked SQLAlchemy URL; `postgresql://` and `postgres://` get the psycopg 3 driver."""
    if isinstance(url, URL):
        parsed = url
    else:
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"no database URL given ({_URL_EXAMPLES})")
        try:
            parsed = make_url(url.strip())
        except (ArgumentError, ValueError):
            raise ConfigError(f"invalid database URL {mask_password(url)!r} ({_URL_EXAMPLES})") from None
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"unsupported database {backend!r} in {safe_url(parsed)}: the store supports SQLite and "
            f"PostgreSQL ({_URL_EXAMPLES})"
        )
    return parsed


def mask_password(url: str) -> str:
    """`url` with any `user:password@` password, and the value of every query parameter whose name
    says secret (libpq reads `?password=` and `?sslpassword=`), replaced by `***`."""
    url = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"([?&][^=&#]*(?:pass|secret|token)[^=&#]*=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def safe_url(url: str | URL | Engine) -> str:
    """The URL as it can be shown to a user: password hidden, also where it is a query parameter."""
    if isinstance(url, Engine):
        url = url.url
    if isinstance(url, str):
        text = url
        try:
            url = make_url(text)
        except (ArgumentError, ValueError):
            return mask_password(text)
    return mask_password(url.render_as_string(hide_password=True))


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and (
        url.database in (None, "", ":memory:") or url.query.get("mode") == "memory"
    )


def make_engine(url: str | URL, *, connect_timeout: int = CONNECT_TIMEOUT_S, echo: bool = False) -> Engine:
    """An engine set up for the store (see the module docstring). Bad URL -> `ConfigError`."""
    parsed = parse_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo}
    connect_args: dict[str, Any] = {}
    memory = is_sqlite_memory(parsed)
    if backend == "sqlite":
        if memory:
            # One shared connection, or every pooled connection would see its own empty database.
            kwargs["poolclass"] = StaticPool
            connect_args["check_same_thread"] = False
        connect_args["timeout"] = SQLITE_BUSY_TIMEOUT_S
    else:
        kwargs["pool_pre_ping"] = True
        if "connect_timeout" not in parsed.query:
            connect_args["connect_timeout"] = connect_timeout
    kwargs["connect_args"] = connect_args
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise ConfigError(f"unknown database driver in {safe_url(parsed)} ({_URL_EXAMPLES})") from None
    except ImportError as exc:
        raise ConfigError(f"the database driver for {safe_url(parsed)} is not installed ({exc.name or exc})") from None
    except ArgumentError as exc:
        raise ConfigError(f"invalid database URL {safe_url(parsed)}: {_first_line(str(exc))}") from None
    if backend == "sqlite":
        _install_sqlite_hooks(engine, wal=not memory)
    return engine


def _install_sqlite_hooks(engine: Engine, *, wal: bool) -> None:
    busy_ms = int(SQLITE_BUSY_TIMEOUT_S * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy emit BEGIN itself (the sqlite3 module's own transaction handling skips it
        # for SELECT and DDL); see SQLAlchemy's "Transactions with SQLite and the sqlite3 driver".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if wal:
            # Readers (the API) never block the writer (the driver) and vice versa.
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")


def writer(engine: Engine) -> Engine:
    """The same engine (same pool) for write transactions: on SQLite they take the write lock at
    BEGIN and wait for it (busy timeout) instead of failing when upgrading a read lock."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


# -- errors -------------------------------------------------------------------------------------


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return text.strip()


_REASONS = (
    ("connection refused", "connection refused"),
    ("timeout expired", "connection timed out"),
    ("timed out", "connection timed out"),
    ("password authentication failed", "password authentication failed"),
    ("could not translate host name", "unknown host"),
    ("name or service not known", "unknown host"),
    ("nodename nor servname", "unknown host"),
    ("server closed the connection unexpectedly", "the server closed the connection"),
    ("terminating connection due to administrator command", "the server closed the connection"),
)


def describe(exc: BaseException) -> str:
    """A short, one-line reason for a driver error (no SQL, no parameters, no password)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig)
    lowered = text.lower()
    for needle, reason in _REASONS:
        if needle in lowered:
            return reason
    line = _first_line(text)
    # psycopg: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  database ...'
    line = line.rsplit(" failed: ", 1)[-1]
    line = re.sub(r"^(FATAL|ERROR):\s*", "", line)
    if len(line) > 200:
        line = line[:197] + "..."
    return line or type(orig).__name__


def _is_missing_table(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "42P01" or "no such table" in str(exc.orig).lower()


def to_store_error(exc: DBAPIError, url: str | URL | Engine, *, connecting: bool = False) -> StoreError:
    where = safe_url(url)
    reason = describe(exc)
    if connecting:
        hint = " (does the folder exist?)" if "unable to open database file" in reason else ""
        return StoreError(f"cannot reach the database at {where}: {reason}{hint}")
    if exc.connection_invalidated:
        return StoreError(f"lost the connection to the database at {where}: {reason}")
    if _is_missing_table(exc):
        return StoreError(
            f"the database at {where} has no results-store tables ({reason}); "
            "open it with ResultsStore(url, migrate=True) to create them"
        )
    return StoreError(f"database error at {where}: {reason}")


def is_transient(exc: BaseException) -> bool:
    """Whether running the same transaction again may succeed."""
    # Wrappers (our StoreError, Optuna's StorageInternalError) keep the driver error as their cause.
    while not isinstance(exc, DBAPIError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, PendingRollbackError):
        # An earlier statement of the transaction lost its connection, and the caller went on in the same
        # session (Optuna's "falling back to a slower alternative" after a server restart). The session
        # has been rolled back on the way out (Optuna's and ours do), so the whole call can run again.
        return True
    if not isinstance(exc, DBAPIError) or isinstance(exc, IntegrityError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    if type(orig).__module__.startswith("sqlite3"):
        message = str(orig).lower()
        return "locked" in message or "busy" in message
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if sqlstate:
        return str(sqlstate).startswith(_TRANSIENT_SQLSTATES)
    # Client-side connection failures (refused, timed out, closed) carry no SQLSTATE.
    return type(exc).__name__ in ("OperationalError", "InterfaceError")


def retrying(retries: int, backoff: float) -> Retrying:
    """Up to `retries` more attempts while the failure is transient, waiting `backoff` seconds doubling
    up to MAX_BACKOFF_S, with jitter (clients that failed together do not come back together); the
    last error is raised as it is."""
    return Retrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential_jitter(initial=backoff, max=MAX_BACKOFF_S, jitter=backoff),
        before_sleep=_log_retry,
        reraise=True,
    )


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    delay = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("transient database error (%s); retrying in %.1fs", _cause_line(exc), delay)


# -- sessions -----------------------------------------------------------------------------------


@contextmanager
def session_scope(factory: sessionmaker[Session], *, retries: int = 3, backoff: float = 0.2) -> Iterator[Session]:
    """One transaction: commit on success, rollback on error, always close.

    The connection is opened before the body runs, retried `retries` times with exponential backoff
    when the failure is transient. Driver errors become `StoreError` (the original is its
    `__cause__`), except `IntegrityError`, which callers turn into their own message.
    """
    session = factory()
    url = session.get_bind().engine.url
    try:
        try:
            retrying(retries, backoff)(_connect, session)
        except DBAPIError as exc:
            raise to_store_error(exc, url, connecting=True) from exc
        try:
            yield session
            session.commit()
        except IntegrityError:
            _quiet_rollback(session)
            raise
        except DBAPIError as exc:
            _quiet_rollback(session)
            raise to_store_error(exc, url) from exc
        except BaseException:
            _quiet_rollback(session)
            raise
    finally:
        session.close()


def _connect(session: Session) -> None:
    try:
        session.connection()
    except DBAPIError:
        _quiet_rollback(session)  # the next attempt starts from a clean session
        raise


def _quiet_rollback(session: Session) -> None:
    try:
        session.rollback()
    except Exception:  # the connection is gone; close() discards it
        log.debug("rollback failed", exc_info=True)


def run_transaction(
    factory: sessionmaker[Session],
    work: Callable[[Session], T],
    *,
    retries: int = 3,
    backoff: float = 0.2,
) -> T:
    """`work(session)` in one transaction, run again (up to `retries` times) on transient failures."""

    def transaction() -> T:
        with session_scope(factory, retries=0) as session:
            return work(session)

    return retry_transient(transaction, retries=retries, backoff=backoff)


def retry_transient(call: Callable[[], T], *, retries: int = 3, backoff: float = 0.2) -> T:
    """`call()`, called again (up to `retries` times, with backoff) while it fails transiently
    (`is_transient`). `call` must be safe to repeat."""
    return retrying(retries, backoff)(call)


def _cause_line(exc: BaseException | None) -> str:
    """Our StoreError's message names the database already; anything else is described by its cause."""
    if exc is None:
        return "unknown error"
    return str(exc) if isinstance(exc, StoreError) else describe(exc.__cause__ or exc)


class Transactions:
    """The read and write transactions that each part of `ResultsStore` kept in a module of its own
    (`confirmations`, `leases`, `answers`, `study_runs`) works in; `ResultsStore` implements them."""

    def _read(self, work: Callable[[Session], T]) -> T:
        raise NotImplementedError

    def _write(self, work: Callable[[Session], T], *, conflict: str | None = None) -> T:
        raise NotImplementedError
