"""Alembic migrations of the results store, shipped inside the package and run from code.

No `alembic.ini` is needed: `alembic_config()` builds the configuration. Our version table is
`prs_alembic_version`, because optuna's RDBStorage, which shares the database, keeps its own
revision in `alembic_version`; `env.py` also hides every non-`prs_` table from autogenerate.

To write a new migration (developers): ::

    from alembic import command
    from prs_search.store.migrations import alembic_config
    command.revision(alembic_config("sqlite:///dev.db"), "what changed", autogenerate=True)

then review the file in `versions/` (name it `NNNN_what.py`, revision id `NNNN`).
"""

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import URL, Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from prs_search.errors import ConfigError, StoreError
from prs_search.store.db import SQLITE_BEGIN, make_engine, retry_transient, safe_url, to_store_error

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSION_TABLE = "prs_alembic_version"
# pg_advisory_xact_lock key: concurrent upgrades (driver and API starting together) run one by one.
_PG_LOCK_KEY = 0x7072735F737472  # "prs_str"


def _escape(value: str) -> str:
    return value.replace("%", "%%")  # configparser interpolation


def alembic_config(url: str | URL | Engine | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic `Config` for the store's migrations; `connection` (if given) is used as is."""
    config = Config()
    config.set_main_option("script_location", _escape(str(MIGRATIONS_DIR)))
    if isinstance(url, Engine):
        url = url.url
    if url is not None:
        rendered = url.render_as_string(hide_password=False) if isinstance(url, URL) else url
        config.set_main_option("sqlalchemy.url", _escape(rendered))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the store has no migrations"
    return head


def current_revision(target: str | URL | Engine) -> str | None:
    """The database's revision of the store schema (None: never upgraded)."""
    result: list[str | None] = []

    def read(connection: Connection) -> None:
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        result.append(context.get_current_revision())

    _with_connection(target, read, lock=False)
    return result[0]


def _check_revision(revision: str) -> None:
    if revision in ("head", "heads", "base") or revision[:1] in "+-" or "@" in revision:
        return
    script = ScriptDirectory.from_config(alembic_config())
    try:
        found = script.get_revision(revision)
    except CommandError:
        found = None
    if found is None:
        known = ", ".join(sorted(r.revision for r in script.walk_revisions()))
        raise ConfigError(f"unknown results-store schema revision {revision!r} (known: {known})")


def upgrade(target: str | URL | Engine, revision: str = "head") -> None:
    """Bring the store's tables to `revision` (default: the newest). A no-op when already there."""
    _check_revision(revision)
    # Up to date already (every start of a driver, an API, a CLI command): a read says so, and a read
    # never waits for SQLite's write lock, which a live driver may hold for long. A second driver must
    # reach its lease check and name that driver, not wait out the busy timeout here.
    if revision == "head" and current_revision(target) == head_revision():
        return
    _with_connection(target, lambda conn: command.upgrade(alembic_config(conn.engine, connection=conn), revision))


def downgrade(target: str | URL | Engine, revision: str) -> None:
    """Take the store's tables back to `revision` ("base": drop them all). Optuna's are untouched."""
    _check_revision(revision)
    _with_connection(target, lambda conn: command.downgrade(alembic_config(conn.engine, connection=conn), revision))


def _with_connection(target: str | URL | Engine, work: Callable[[Connection], None], *, lock: bool = True) -> None:
    engine = target if isinstance(target, Engine) else make_engine(target)
    try:
        if engine.dialect.name == "sqlite":
            # The file can be locked for a moment while another process creates it (WAL set-up) or
            # migrates it: the whole transaction again, from the revision the database has reached by then.
            retry_transient(lambda: _in_transaction(engine, work, lock=lock))
        else:  # PostgreSQL upgrades queue on an advisory lock; an unreachable server is reported at once
            _in_transaction(engine, work, lock=lock)
    finally:
        if engine is not target:
            engine.dispose()


def _in_transaction(engine: Engine, work: Callable[[Connection], None], *, lock: bool) -> None:
    try:
        connection = engine.connect()
    except DBAPIError as exc:
        raise to_store_error(exc, engine, connecting=True) from exc
    with connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite and lock:
            # Batch migrations copy and re-create tables: foreign keys must be off meanwhile, and
            # this pragma is a no-op inside a transaction, so it is set before BEGIN.
            connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")  # type: ignore[union-attr]
            connection.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})
        try:
            with connection.begin():
                if lock and connection.dialect.name == "postgresql":
                    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
                work(connection)
        except DBAPIError as exc:
            raise to_store_error(exc, engine) from exc
        except CommandError as exc:  # e.g. the database is at a revision this version does not know
            raise StoreError(
                f"cannot migrate the results store at {safe_url(engine)}: {exc} "
                f"(this prs-search knows revisions up to {head_revision()}; is the database newer?)"
            ) from exc
        finally:
            if sqlite and lock:
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = ON")  # type: ignore[union-attr]
