"""One driver per search, on every backend: real processes race for a lease, a dead holder is taken over
(at once on this machine, after its heartbeat's time to live from another), a live one never is; and
the dataset versions the API's cache is keyed on move with every write that can change an answer."""

import asyncio
import multiprocessing
import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import update

from prs_search.errors import ConflictError
from prs_search.processes import this_machine
from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore, SearchRecord, db
from prs_search.store.db import parse_url, safe_url
from prs_search.store.models import DriverLease, utcnow

TTL = 60.0
# Takes the lease, says where it runs (its lease's host), and holds it until its stdin closes.
ACQUIRE_AND_WAIT = (
    "import sys; from prs_search.store import ResultsStore; "
    "s = ResultsStore(sys.argv[1], migrate=False); "
    "print(s.acquire_driver(search_id=int(sys.argv[2]), origin='cli', ttl_s=60).host, flush=True); "
    "sys.stdin.read()"
)
ACQUIRE_AND_EXIT = (
    "import sys; from prs_search.store import ResultsStore; "
    "s = ResultsStore(sys.argv[1], migrate=False); "
    "print(s.acquire_driver(search_id=int(sys.argv[2]), origin='cli', ttl_s=60).holder)"
)


def _race(url: str, search_id: int, barrier: Any, results: Any, done: Any) -> None:
    store = ResultsStore(url, migrate=False)
    barrier.wait()
    try:
        store.acquire_driver(search_id=search_id, origin="cli", ttl_s=TTL)
        results.put("won")
    except ConflictError as exc:
        results.put(str(exc))
    done.wait(120)  # the winner stays alive while the others look at its lease


def test_drivers_racing_for_a_search_let_exactly_one_in(
    empty_url: str, new_search: Callable[..., SearchRecord]
) -> None:
    search = new_search("raced")
    context = multiprocessing.get_context("spawn")
    barrier, results, done = context.Barrier(4), context.Queue(), context.Event()
    racers = [context.Process(target=_race, args=(empty_url, search.id, barrier, results, done)) for _ in range(4)]
    for racer in racers:
        racer.start()
    try:
        outcomes = sorted(results.get(timeout=120) for _ in racers)
    finally:
        done.set()
        for racer in racers:
            racer.join(timeout=60)
    assert outcomes.count("won") == 1, outcomes
    for lost in (o for o in outcomes if o != "won"):
        assert "is being run by another driver" in lost


def test_a_live_driver_is_never_taken_over(store: ResultsStore, new_search: Callable[..., SearchRecord]) -> None:
    search = new_search()
    lease = store.acquire_driver(search_id=search.id, origin="api", ttl_s=TTL)
    assert (lease.pid, lease.host, lease.origin, lease.alive) == (os.getpid(), this_machine(), "api", True)
    with pytest.raises(ConflictError, match=r"search 'search-1' is being run by another driver \(pid \d+ on "):
        store.acquire_driver(search_id=search.id, origin="cli", ttl_s=TTL)
    assert [d.search_id for d in store.live_drivers(ttl_s=TTL, origin="api")] == [search.id]
    assert store.live_drivers(ttl_s=TTL, origin="cli") == []
    store.release_driver(search_id=search.id, holder=lease.holder)
    assert store.live_drivers(ttl_s=TTL) == []
    assert store.acquire_driver(search_id=search.id, origin="cli", ttl_s=TTL).alive


def test_a_live_driver_inside_a_long_write_is_named_not_waited_for(
    store: ResultsStore, empty_url: str, backend: str, new_search: Callable[..., SearchRecord],
    inside_a_write: Callable[[str, int], AbstractContextManager[None]], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """A second driver opens the store and asks for the lease while the holder's write lock is taken: it
    reads the lease and names the holder, instead of waiting the lock out ("database is locked")."""
    search = new_search()
    store.acquire_driver(search_id=search.id, origin="api", ttl_s=TTL)  # held by this process: live
    # Waits cut short, so that waiting at all fails in seconds.
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_S", 1.0)
    url = parse_url(empty_url)
    if backend == "postgres":
        url = url.update_query_dict({"options": "-c lock_timeout=1000"})
    with inside_a_write(empty_url, search.id):
        second = ResultsStore(url.render_as_string(hide_password=False), retries=0)  # up to date: not migrated
        named = r"search 'search-1' is being run by another driver \(pid "
        try:
            with pytest.raises(ConflictError, match=named):
                second.refuse_if_driven(search_id=search.id, ttl_s=TTL)
            with pytest.raises(ConflictError, match=named):
                second.acquire_driver(search_id=search.id, origin="cli", ttl_s=TTL)
        finally:
            second.dispose()


def test_a_dead_driver_on_this_machine_is_taken_over_at_once(
    store: ResultsStore, empty_url: str, new_search: Callable[..., SearchRecord]
) -> None:
    search = new_search()
    done = subprocess.run(
        [sys.executable, "-c", ACQUIRE_AND_EXIT, empty_url, str(search.id)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    dead_holder = done.stdout.strip()
    assert store.live_drivers(ttl_s=TTL) == []  # it exited without releasing: its lease is there, but dead
    taken = store.acquire_driver(search_id=search.id, origin="cli", ttl_s=TTL)
    assert taken.holder != dead_holder
    assert store.heartbeat_driver(search_id=search.id, holder=dead_holder, ttl_s=TTL) is None  # it lost it
    beat = store.heartbeat_driver(search_id=search.id, holder=taken.holder, ttl_s=TTL)
    assert beat is not None and beat.heartbeat_at >= taken.heartbeat_at and beat.cancel_requested_at is None


def test_a_live_driver_in_another_pid_namespace_is_not_taken_for_dead(
    store: ResultsStore, empty_url: str, new_search: Callable[..., SearchRecord]
) -> None:
    """A container on this kernel with this host name (`--net=host`): its pids mean other processes here,
    so its driver is judged by its heartbeat, as one on another machine is."""
    search = new_search()
    # sh stays pid 1 of the new namespace (`; true` keeps it from exec-ing Python), so Python's pid there
    # names no process of ours, or an unrelated one: looked up here, it would read as gone.
    script = f"{shlex.quote(sys.executable)} -c {shlex.quote(ACQUIRE_AND_WAIT)} {shlex.quote(empty_url)} {search.id}"
    command = ["unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount-proc", "sh", "-c", f"{script}; true"]
    if subprocess.run([*command[:-3], "true"], capture_output=True).returncode != 0:
        pytest.skip("cannot create a pid namespace here (unshare)")
    holder = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        host = holder.stdout.readline().strip()
        assert host.startswith(f"{socket.gethostname()}/")  # the holder runs, on this host name
        with pytest.raises(ConflictError, match="being run by another driver"):
            store.acquire_driver(search_id=search.id, origin="cli", ttl_s=TTL)
        assert host != this_machine()
    finally:
        if holder.stdin is not None:
            holder.stdin.close()  # the holder exits
        holder.wait(timeout=60)


def test_a_driver_on_another_machine_is_gone_only_when_its_heartbeat_is_stale(
    store: ResultsStore, new_search: Callable[..., SearchRecord]
) -> None:
    search = new_search()
    lease = store.acquire_driver(search_id=search.id, origin="cli", ttl_s=TTL)

    def elsewhere(heartbeat_age_s: float) -> None:  # the row as a driver on another machine leaves it
        with store.engine.begin() as conn:
            conn.execute(
                update(DriverLease)
                .where(DriverLease.search_id == search.id)
                .values(host="other-host/boot", pid=1, heartbeat_at=utcnow() - timedelta(seconds=heartbeat_age_s))
            )

    elsewhere(heartbeat_age_s=5)
    with pytest.raises(ConflictError, match="on other-host"):
        store.acquire_driver(search_id=search.id, origin="cli", ttl_s=TTL)
    elsewhere(heartbeat_age_s=TTL + 5)
    assert store.acquire_driver(search_id=search.id, origin="cli", ttl_s=TTL).holder != lease.holder


def test_cancel_with_and_without_a_live_driver(store: ResultsStore, new_search: Callable[..., SearchRecord]) -> None:
    running, idle = new_search("running"), new_search("idle")
    lease = store.acquire_driver(search_id=running.id, origin="cli", ttl_s=TTL)
    asked = store.cancel_search(search_id=running.id, ttl_s=TTL)
    assert asked.status == "pending" and asked.finished_at is None  # the driver marks it when it has stopped
    beat = store.heartbeat_driver(search_id=running.id, holder=lease.holder, ttl_s=TTL)
    assert beat is not None and beat.cancel_requested_at is not None
    cancelled = store.cancel_search(search_id=idle.id, ttl_s=TTL)
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    with pytest.raises(ConflictError, match="cancelled already"):
        store.cancel_search(search_id=idle.id, ttl_s=TTL)


def test_dataset_versions_move_with_every_write_an_answer_reads(
    store: ResultsStore, new_search: Callable[..., SearchRecord], run_trial: Callable[..., int]
) -> None:
    versions = [store.dataset_version(dataset="cifar100")]

    def moved() -> bool:
        versions.append(store.dataset_version(dataset="cifar100"))
        return versions[-1] > versions[-2]

    assert versions == [0]
    search = new_search()
    assert moved()
    store.set_search_status(search_id=search.id, status="running")
    assert moved()
    store.start_trial(search_id=search.id, trial_key="t", schedule=[1, 0], params={})
    assert moved()
    store.record_epoch(search_id=search.id, trial_key="t", epoch=0, metrics={"val_acc": 0.5})
    assert not moved()  # per-epoch metrics: no answer reads them
    trial = store.finish_trial(search_id=search.id, trial_key="t", state="COMPLETE")
    assert moved()
    store.update_best_schedule(search_id=search.id)
    assert moved()
    store.set_test_result(search_id=search.id, trial_id=trial.id, test_acc=0.4)
    assert moved()
    assert store.dataset_version(dataset="digits") == 0  # another dataset's answers did not change


def test_a_password_in_the_query_is_masked() -> None:
    for url in (
        "postgresql+psycopg://prs@db:5432/prs?password=hunter2&sslmode=require",
        "postgresql://prs:hunter2@db/prs?sslpassword=hunter2",
    ):
        shown = safe_url(url)
        assert "hunter2" not in shown and "***" in shown, shown
    assert "sslmode=require" in safe_url("postgresql://prs@db/prs?password=x&sslmode=require")


@pytest.mark.postgres
def test_version_reads_survive_a_lost_connection(postgres_db: Any) -> None:
    """The API's fast reads keep a connection of their own: one the server dropped is replaced."""
    store = ResultsStore(postgres_db.reset())
    store.create_search(NewSearch(
        name="s", dataset="cifar100", num_samples=100, fraction=None, space="free", space_config={}, budget=1,
        epochs=1, model="tiny", model_config={}, stem="conv", seed=0, study_name="s",
    ))  # fmt: skip

    async def reads() -> list[int]:
        first = [store.dataset_version(dataset="cifar100"), await store.dataset_version_async(dataset="cifar100")]
        postgres_db.terminate_others()  # as a server restart does
        return [
            *first,
            store.dataset_version(dataset="cifar100"),
            await store.dataset_version_async(dataset="cifar100"),
        ]

    assert asyncio.run(reads()) == [1, 1, 1, 1]
    store.dispose()
