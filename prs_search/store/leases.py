"""One driver per search, enforced in the database: the store's side of `prs_search.search.driver_lease`.

A driver takes its search's row in `prs_driver_leases` before it runs anything and refreshes its
heartbeat while it runs. A second driver (another `prs-search run --name X`, another API worker, an API
restarted) finds the row and is refused, unless the holder is gone:

- on the same machine (host name, boot id and pid namespace match) the holder's process is looked up
  (`prs_search.processes`):
  a process that no longer exists, is a zombie, or is another process that reuses the pid (start time
  differs) is gone; this is immediate, so `kill -9` then `--resume` works at once;
- from another machine only the heartbeat can tell: older than the lease's time to live, it is gone.

Times are the database server's clock on PostgreSQL (drivers on several machines compare one clock); a
SQLite file is only ever used from one machine, whose clock it is.

A mixin of `ResultsStore` (its `_read` / `_write` transactions), as `confirmations.py` is.
"""

import logging
import os
import uuid
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import Field
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from prs_search.errors import ConflictError, checked
from prs_search.field_types import DriverOrigin, SearchStatus
from prs_search.processes import process_alive, process_started, this_machine
from prs_search.schemas import DriverRecord, SearchRecord
from prs_search.store import dataset_versions, queries
from prs_search.store.db import Transactions
from prs_search.store.models import DriverLease, Search, utcnow

log = logging.getLogger(__name__)

TimeToLive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]


def holder_alive(row: DriverLease, now: datetime, ttl_s: float) -> bool:
    if row.host == this_machine():
        return process_alive(row.pid, row.started)
    return now - row.heartbeat_at < timedelta(seconds=ttl_s)


def _now(session: Session) -> datetime:
    if session.get_bind().dialect.name == "postgresql":
        now: datetime = session.scalar(select(func.now()))  # type: ignore[assignment]
        return now
    return utcnow()


def _record(row: DriverLease, now: datetime, ttl_s: float) -> DriverRecord:
    values = {name: getattr(row, name) for name in DriverRecord.model_fields if name != "alive"}
    return DriverRecord.model_validate({**values, "alive": holder_alive(row, now, ttl_s)})


def _describe(row: DriverLease, search: Search) -> str:
    host = row.host.split("/", 1)[0]
    since = row.acquired_at.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"search {search.name!r} is being run by another driver (pid {row.pid} on {host}, since {since} UTC); "
        "wait for it to end, or cancel it (DELETE /v1/searches/NAME)"
    )


def _refuse_a_live_holder(row: DriverLease | None, search: Search, now: datetime, ttl_s: float) -> None:
    if row is not None and holder_alive(row, now, ttl_s):
        raise ConflictError(_describe(row, search))


def _mark_cancelled(session: Session, search: Search) -> None:
    search.status = SearchStatus.CANCELLED.value
    search.error = "cancelled on request"
    search.finished_at = search.updated_at = utcnow()
    dataset_versions.bump(session, search.dataset)


class LeasesMixin(Transactions):
    """`acquire_driver`, `refuse_if_driven`, `heartbeat_driver`, `release_driver`, `driver_of`,
    `live_drivers` and `cancel_search`."""

    @checked
    def acquire_driver(self, *, search_id: int, origin: DriverOrigin, ttl_s: TimeToLive) -> DriverRecord:
        """Make this process the driver of search `search_id`, taking over a lease whose holder is gone.
        Held by a live driver, or the search was cancelled -> `ConflictError`."""
        # The fast answer first: the write below would queue behind a live holder that is inside a long write.
        self.refuse_if_driven(search_id=search_id, ttl_s=ttl_s)
        holder, pid = uuid.uuid4().hex, os.getpid()

        def work(session: Session) -> DriverRecord:
            search = queries.require_search(session, search_id, for_update=True)  # drivers queue here
            now = _now(session)
            row = session.get(DriverLease, search_id, with_for_update=True)
            _refuse_a_live_holder(row, search, now, ttl_s)
            if row is not None:
                log.warning("search %s: taking over from driver pid %d on %s, which is gone", search.name, row.pid,
                            row.host)  # fmt: skip
                if row.cancel_requested_at is not None:  # it was asked to stop and died first
                    _mark_cancelled(session, search)
                session.delete(row)
                session.flush()
            if search.status == SearchStatus.CANCELLED:
                raise ConflictError(f"search {search.name!r} was cancelled; start a new one under another name")
            lease = DriverLease(
                search_id=search_id, holder=holder, host=this_machine(), pid=pid, started=process_started(pid),
                origin=origin, acquired_at=now, heartbeat_at=now,
            )  # fmt: skip
            session.add(lease)
            session.flush()
            return _record(lease, now, ttl_s)

        # Two drivers that both found the row free: the primary key lets one in.
        return self._write(work, conflict=f"search {search_id} is being run by another driver")

    @checked
    def refuse_if_driven(self, *, search_id: int, ttl_s: TimeToLive) -> None:
        """`ConflictError` now if a live driver holds search `search_id`: a second driver says so before it
        spends seconds starting Ray. A read, so it answers while that driver holds the write lock. Only a fast
        answer: `acquire_driver` is what enforces one driver."""

        def work(session: Session) -> None:
            search = queries.require_search(session, search_id)
            _refuse_a_live_holder(session.get(DriverLease, search_id), search, _now(session), ttl_s)

        self._read(work)

    @checked
    def heartbeat_driver(self, *, search_id: int, holder: str, ttl_s: TimeToLive) -> DriverRecord | None:
        """Refresh the holder's heartbeat; the lease as it is now (its `cancel_requested_at` says whether
        to stop), or None when `holder` no longer holds it (another driver took over)."""

        def work(session: Session) -> DriverRecord | None:
            row = session.get(DriverLease, search_id, with_for_update=True)
            if row is None or row.holder != holder:
                return None
            row.heartbeat_at = _now(session)
            session.flush()
            return _record(row, row.heartbeat_at, ttl_s)

        return self._write(work)

    @checked
    def release_driver(self, *, search_id: int, holder: str) -> None:
        """Give the lease up (a no-op when `holder` no longer holds it)."""
        self._write(
            lambda session: session.execute(
                delete(DriverLease).where(DriverLease.search_id == search_id, DriverLease.holder == holder)
            )
        )

    @checked
    def driver_of(self, *, search_id: int, ttl_s: TimeToLive) -> DriverRecord | None:
        """The lease of search `search_id` (`alive` says whether its holder still runs); None: nobody holds it."""

        def work(session: Session) -> DriverRecord | None:
            row = session.get(DriverLease, search_id)
            return None if row is None else _record(row, _now(session), ttl_s)

        return self._read(work)

    @checked
    def live_drivers(self, *, ttl_s: TimeToLive, origin: DriverOrigin | None = None) -> list[DriverRecord]:
        """The drivers running now (of one origin, or all)."""

        def work(session: Session) -> list[DriverRecord]:
            now = _now(session)
            stmt = select(DriverLease).order_by(DriverLease.search_id)
            if origin is not None:
                stmt = stmt.where(DriverLease.origin == origin)
            records = [_record(row, now, ttl_s) for row in session.scalars(stmt)]
            return [r for r in records if r.alive]

        return self._read(work)

    @checked
    def cancel_search(self, *, search_id: int, ttl_s: TimeToLive) -> SearchRecord:
        """Stop a search: with a live driver, ask it to stop (it marks the search `cancelled` when it has,
        within a heartbeat); without one, mark it `cancelled` now. Its finished trials stay either way.
        A search that finished, failed or was cancelled already -> `ConflictError`."""

        def work(session: Session) -> SearchRecord:
            search = queries.require_search(session, search_id, for_update=True)
            if SearchStatus(search.status).is_closed:
                raise ConflictError(f"search {search.name!r} is {search.status} already: nothing to cancel")
            row = session.get(DriverLease, search_id, with_for_update=True)
            now = _now(session)
            if row is not None and holder_alive(row, now, ttl_s):
                row.cancel_requested_at = row.cancel_requested_at or now
            else:
                if row is not None:
                    session.delete(row)
                _mark_cancelled(session, search)
            session.flush()
            return SearchRecord.model_validate(search)

        return self._write(work)
