"""A driver holds its search's lease while it runs, and stops when it is asked to (or must).

`hold_lease(store, search, job)` takes the lease in the database (`prs_search.store.leases`: one driver
per search, CLI and API alike; a second one gets a one-line `ConflictError`), and while it is held a
daemon thread, every `PRS_DRIVER_HEARTBEAT_S`, refreshes the heartbeat and looks for a reason to stop:

- the search was cancelled (`DELETE /v1/searches/NAME`): it becomes `cancelled`;
- the API that started this driver is gone (`job.parent_pid` is no longer the parent, e.g. the API was
  killed): it becomes `interrupted`, resumable with `prs-search run --name NAME --resume`;
- another driver took the lease over (this one was taken for dead): `interrupted`.

Ray Tune is told through `stopper`, a `tune.Stopper` whose `stop_all()` turns true then: Tune stops the
running trials, keeps what finished, and `Tuner.fit` returns. The lease is released on the way out.
"""

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ray import tune

from prs_search.errors import PRSError
from prs_search.field_types import SearchStatus
from prs_search.schemas import SearchRecord
from prs_search.search_request import SearchJob
from prs_search.settings import get_settings
from prs_search.store import ResultsStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StopReason:
    status: SearchStatus
    message: str


class DriverLease:
    """The lease of one search, held by this process (see the module docstring)."""

    def __init__(
        self, store: ResultsStore, search: SearchRecord, holder: str, *, parent_pid: int | None,
        heartbeat_s: float, ttl_s: float,
    ) -> None:  # fmt: skip
        self.store, self.search, self.holder = store, search, holder
        self.parent_pid, self.heartbeat_s, self.ttl_s = parent_pid, heartbeat_s, ttl_s
        self.stopper = LeaseStopper(self)
        self._stopped: StopReason | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{search.id}", daemon=True)

    @property
    def stopped(self) -> StopReason | None:
        """Why the search must stop (None: it may go on)."""
        return self._stopped

    def poll(self) -> None:
        """One heartbeat: refresh the lease and look for a reason to stop."""
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            self._stop(SearchStatus.INTERRUPTED, "the API that started this search stopped")
        try:
            lease = self.store.heartbeat_driver(search_id=self.search.id, holder=self.holder, ttl_s=self.ttl_s)
        except PRSError as exc:  # the database is away: the next beat tries again
            log.warning("search %s: could not refresh the driver lease: %s", self.search.name, exc)
            return
        if lease is None:
            self._stop(SearchStatus.INTERRUPTED, "another driver took this search over")
        elif lease.cancel_requested_at is not None:
            self._stop(SearchStatus.CANCELLED, "cancelled on request")

    def _stop(self, status: SearchStatus, message: str) -> None:
        if self._stopped is None:
            log.warning("search %s stops: %s", self.search.name, message)
            self._stopped = StopReason(status, message)

    def _beat(self) -> None:
        while not self._done.wait(self.heartbeat_s):
            self.poll()

    def start(self) -> None:
        self.poll()  # a parent already gone, or a cancel that came first, stops the search before it starts
        self._thread.start()

    def release(self) -> None:
        self._done.set()
        self._thread.join(timeout=self.heartbeat_s + 30)
        try:
            self.store.release_driver(search_id=self.search.id, holder=self.holder)
        except PRSError as exc:  # the row stays; the next driver sees this process gone and takes over
            log.warning("search %s: could not release the driver lease: %s", self.search.name, exc)


class LeaseStopper(tune.Stopper):
    """Stops the whole experiment once the lease says so. Tune pickles its run config: a copy (which has
    no lease) never stops anything."""

    def __init__(self, lease: DriverLease | None) -> None:
        self.lease = lease

    def __reduce__(self) -> tuple[Any, ...]:
        return (LeaseStopper, (None,))

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        return self.lease is not None and self.lease.stopped is not None


@contextmanager
def hold_lease(store: ResultsStore, search: SearchRecord, job: SearchJob) -> Iterator[DriverLease]:
    """Hold `search`'s lease for the block (another live driver holds it -> `ConflictError`)."""
    settings = get_settings()
    record = store.acquire_driver(search_id=search.id, origin=job.origin, ttl_s=settings.driver_lease_ttl_s)
    lease = DriverLease(
        store, search, record.holder, parent_pid=job.parent_pid, heartbeat_s=settings.driver_heartbeat_s,
        ttl_s=settings.driver_lease_ttl_s,
    )  # fmt: skip
    try:
        lease.start()
        yield lease
    finally:
        lease.release()
