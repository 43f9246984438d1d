"""Per-dataset versions: what the API's recommendation cache is keyed on.

Every store write that can change what `prs_search.recommend.recommend` answers for a dataset (a search
created, started or finished, a trial started or finished, a best schedule or test result recorded, a
re-evaluation run recorded: the cross-size model is fitted on finished trials and re-evaluation runs)
calls `bump` inside its own transaction, so the new version becomes visible exactly when the change
does. Per-epoch metrics of a running trial do not bump: no answer reads them until the trial finishes
(an epoch re-reported for a COMPLETE trial does). A reader compares the version with the one
its cached answer was computed at (`read`, one primary-key lookup), which works across API workers and
machines because the counter lives in the database.
"""

import asyncio
import contextlib
import threading
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from prs_search.errors import StoreError
from prs_search.store.db import CONNECT_TIMEOUT_S, describe, safe_url
from prs_search.store.models import DatasetVersion, Search

_READ = select(DatasetVersion.version).where(DatasetVersion.dataset == bindparam("dataset"))


def bump(session: Session, dataset: str) -> None:
    """Increment `dataset`'s version (creating it at 1), race-free on both backends."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    insert = module.insert(DatasetVersion).values(dataset=dataset, version=1)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=["dataset"], set_={"version": DatasetVersion.__table__.c.version + 1}
        )
    )


def bump_search(session: Session, search_id: int) -> None:
    """`bump` for the dataset of a search."""
    dataset = session.scalar(select(Search.dataset).where(Search.id == search_id))
    if dataset is not None:
        bump(session, dataset)


def read(connection: Connection, dataset: str) -> int:
    """The current version of `dataset` (0: never written)."""
    return int(connection.execute(_READ, {"dataset": dataset}).scalar() or 0)


class VersionReader:
    """`read` for a caller that asks on every request (the API): one statement on one connection of its
    own, in autocommit (each read sees every committed write; no transaction stays open).

    Through a pooled SQLAlchemy connection the same read costs ~0.45 ms on SQLite (pool checkout, the
    explicit BEGIN of `store.db`, events, result set-up, rollback), as much again as a trivial FastAPI
    route; on this DBAPI connection it is a few tens of microseconds. The connection is detached from
    the engine's pool (SQLAlchemy's `raw_connection().detach()`); a broken one (a database restart) is
    replaced once, then the failure is a `StoreError`. Thread-safe: reads take turns on the lock.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        compiled = _READ.compile(dialect=engine.dialect)
        self._sql = str(compiled)
        self._positional = bool(compiled.positional)
        self._connection: Any = None
        self._lock = threading.Lock()

    def read(self, dataset: str) -> int:
        errors = self._engine.dialect.loaded_dbapi.Error
        params: Any = (dataset,) if self._positional else {"dataset": dataset}
        with self._lock:
            for attempt in range(2):
                try:
                    if self._connection is None:
                        self._connection = self._open()
                    cursor = self._connection.cursor()
                    try:
                        cursor.execute(self._sql, params)
                        row = cursor.fetchone()
                    finally:
                        cursor.close()
                    return int(row[0]) if row else 0
                except errors as exc:
                    self._close()
                    if attempt:
                        raise StoreError(
                            f"cannot read from the database at {safe_url(self._engine)}: {describe(exc)}"
                        ) from exc
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            self._close()

    def _open(self) -> Any:
        pooled = self._engine.raw_connection()
        connection, driver = pooled.dbapi_connection, pooled.driver_connection
        pooled.detach()  # ours alone: the pool neither counts nor resets it
        if self._engine.dialect.name == "postgresql":
            driver.autocommit = True  # type: ignore[union-attr]
        # SQLite: the engine's connect hook left it in autocommit (isolation_level None).
        return connection

    def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # already broken
                self._connection.close()
            self._connection = None


class AsyncVersionReader:
    """`read` without blocking an event loop, for PostgreSQL: psycopg's own asyncio connection (autocommit),
    one per event loop, opened on first use and replaced once when broken (then `StoreError`). SQLite needs
    none: its read is a local file's, tens of microseconds (`VersionReader`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._sql = str(_READ.compile(dialect=engine.dialect))
        self._connection: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def read(self, dataset: str) -> int:
        import psycopg

        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a connection belongs to the loop that opened it
            self._loop, self._lock, self._connection = loop, asyncio.Lock(), None
        assert self._lock is not None
        async with self._lock:
            for attempt in range(2):
                try:
                    if self._connection is None:
                        self._connection = await psycopg.AsyncConnection.connect(
                            self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
                        )
                    cursor = await self._connection.execute(self._sql, {"dataset": dataset})
                    row = await cursor.fetchone()
                    return int(row[0]) if row else 0
                except psycopg.Error as exc:
                    await self._close()
                    if attempt:
                        raise StoreError(
                            f"cannot read from the database at {safe_url(self._engine)}: {describe(exc)}"
                        ) from exc
        raise AssertionError("unreachable")

    async def _close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
