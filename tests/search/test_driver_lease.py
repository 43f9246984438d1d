"""The driver side of the lease (`prs_search.search.driver_lease`): what makes a running search stop, and how Ray
Tune is told. Real store (SQLite), no Ray run: the stopper is asked as Tune's controller asks it."""

import os
import pickle
from pathlib import Path

import pytest

from prs_search.errors import ConflictError
from prs_search.schemas import NewSearch
from prs_search.search.driver_lease import LeaseStopper, hold_lease
from prs_search.search_request import SearchJob
from prs_search.store import ResultsStore, SearchRecord


@pytest.fixture
def search(store: ResultsStore) -> SearchRecord:
    return store.create_search(NewSearch(
        name="leased", dataset="digits", num_samples=100, fraction=None, space="monotone", space_config={}, budget=2,
        epochs=1, model="tiny", model_config={}, stem="conv", seed=0, study_name="prs-leased",
    ))  # fmt: skip


def job(store: ResultsStore, tmp_path: Path, **fields: object) -> SearchJob:
    return SearchJob(
        dataset="digits", budget=2, database_url=store.url, storage_path=tmp_path, data_dir=tmp_path, **fields
    )  # type: ignore[arg-type]


def test_a_held_lease_keeps_a_second_driver_out_and_is_released(
    store: ResultsStore, search: SearchRecord, tmp_path: Path
) -> None:
    with hold_lease(store, search, job(store, tmp_path)) as lease:
        assert lease.stopped is None and not lease.stopper.stop_all()
        with pytest.raises(ConflictError, match="being run by another driver"):
            store.acquire_driver(search_id=search.id, origin="cli", ttl_s=60)
        with pytest.raises(
            ConflictError, match=rf"search 'leased' is being run by another driver \(pid {os.getpid()} "
        ):
            store.refuse_if_driven(search_id=search.id, ttl_s=60)  # the fast answer, before Ray starts
    assert store.live_drivers(ttl_s=60) == []
    store.refuse_if_driven(search_id=search.id, ttl_s=60)  # released: no refusal


def test_a_cancel_stops_the_experiment(store: ResultsStore, search: SearchRecord, tmp_path: Path) -> None:
    with hold_lease(store, search, job(store, tmp_path, origin="api")) as lease:
        store.cancel_search(search_id=search.id, ttl_s=60)
        lease.poll()  # the heartbeat
        assert lease.stopped is not None and lease.stopped.status == "cancelled"
        assert lease.stopper.stop_all() and not lease.stopper("trial", {})


def test_the_search_stops_when_the_api_that_started_it_is_gone(
    store: ResultsStore, search: SearchRecord, tmp_path: Path
) -> None:
    with hold_lease(store, search, job(store, tmp_path, parent_pid=os.getppid())) as lease:
        assert lease.stopped is None  # started by its parent, which runs
    with hold_lease(store, search, job(store, tmp_path, parent_pid=os.getppid() + 100_000)) as orphan:
        assert orphan.stopped is not None and orphan.stopped.status == "interrupted"
        assert "API" in orphan.stopped.message and orphan.stopper.stop_all()


def test_a_lease_taken_over_stops_its_old_holder(store: ResultsStore, search: SearchRecord, tmp_path: Path) -> None:
    with hold_lease(store, search, job(store, tmp_path)) as lease:
        store.release_driver(search_id=search.id, holder=lease.holder)  # as a takeover leaves it
        store.acquire_driver(search_id=search.id, origin="cli", ttl_s=60)
        lease.poll()
        assert lease.stopped is not None and "took this search over" in lease.stopped.message


def test_tunes_pickled_copy_of_the_stopper_stops_nothing(
    store: ResultsStore, search: SearchRecord, tmp_path: Path
) -> None:
    with hold_lease(store, search, job(store, tmp_path)) as lease:
        store.cancel_search(search_id=search.id, ttl_s=60)
        lease.poll()
        copy = pickle.loads(pickle.dumps(lease.stopper))
    assert isinstance(copy, LeaseStopper) and copy.lease is None and not copy.stop_all()
