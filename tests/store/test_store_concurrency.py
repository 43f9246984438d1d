"""The driver writes while the API reads; several writers queue; a lost connection is survived."""

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore, SearchRecord

EPOCHS = 60


def create_search(store: ResultsStore, name: str = "concurrent") -> SearchRecord:
    return store.create_search(NewSearch(
        name=name, dataset="cifar100", num_samples=5000, fraction=None, space="free", space_config={}, budget=10,
        epochs=EPOCHS, model="tiny", model_config={}, stem="conv", seed=0, study_name=name,
    ))  # fmt: skip


def run_threads(*targets: Callable[[], None]) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except BaseException as exc:  # reported to the test
                errors.append(exc)

        return run

    threads = [threading.Thread(target=guarded(t)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return errors


def test_sqlite_reads_while_writing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prs.db'}"
    driver = ResultsStore(url)  # the driver and the API are separate processes: separate engines
    api = ResultsStore(url, migrate=False)
    search = create_search(driver)
    trial = driver.start_trial(search_id=search.id, trial_key="t0", schedule=[3, 2, 1, 0], params={})
    done = threading.Event()
    reads: list[int] = []

    def write() -> None:
        try:
            for epoch in range(EPOCHS):
                driver.record_epoch(
                    search_id=search.id,
                    trial_key="t0",
                    epoch=epoch,
                    metrics={"val_acc": epoch / EPOCHS, "seconds": 0.5},
                )
                if epoch % 10 == 0:
                    driver.start_trial(search_id=search.id, trial_key=f"t{epoch + 1}", schedule=[1, 1, 1, 1], params={})
            driver.finish_trial(search_id=search.id, trial_key="t0", state="COMPLETE")
        finally:
            done.set()

    def read() -> None:
        while not done.is_set():
            trials, total = api.list_trials(search_id=search.id)
            assert total == len(trials) >= 1
            epochs = api.epoch_metrics(trial_id=trial.id)
            assert [e.epoch for e in epochs] == list(range(len(epochs)))  # never a partial write
            api.trial_counts(search_id=search.id)
            reads.append(len(epochs))

    assert run_threads(write, read, read) == []
    assert reads, "the readers never ran"
    final = api.get_trial(trial_id=trial.id)
    assert final is not None and final.epochs_run == EPOCHS and final.seconds == pytest.approx(EPOCHS * 0.5)
    driver.dispose()
    api.dispose()


def test_sqlite_writers_queue_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prs.db'}"
    stores = [ResultsStore(url) for _ in range(3)]
    search = create_search(stores[0])

    def writer(index: int) -> Callable[[], None]:
        def write() -> None:
            key = f"w{index}"
            stores[index].start_trial(search_id=search.id, trial_key=key, schedule=[1, 0], params={})
            for epoch in range(30):
                stores[index].record_epoch(
                    search_id=search.id, trial_key=key, epoch=epoch, metrics={"val_acc": 0.5, "seconds": 1.0}
                )
            stores[index].finish_trial(search_id=search.id, trial_key=key, state="COMPLETE")

        return write

    assert run_threads(*(writer(i) for i in range(3))) == []
    trials, total = stores[0].list_trials(search_id=search.id)
    assert total == 3 and all(t.epochs_run == 30 for t in trials)
    for store in stores:
        store.dispose()


@pytest.mark.postgres
def test_postgres_survives_lost_connections(postgres_db: Any) -> None:
    """Every server-side session is killed (as a restart does) between writes: nothing fails."""
    postgres_db.reset()
    store = ResultsStore(postgres_db.url)
    search = create_search(store)
    store.start_trial(search_id=search.id, trial_key="t", schedule=[1, 0], params={})
    for epoch in range(3):
        postgres_db.terminate_others()
        store.record_epoch(search_id=search.id, trial_key="t", epoch=epoch, metrics={"val_acc": 0.1 * epoch})
    postgres_db.terminate_others()
    trial = store.find_trial(search_id=search.id, trial_key="t")
    assert trial is not None and trial.epochs_run == 3
    store.dispose()


@pytest.mark.postgres
def test_postgres_concurrent_writers(postgres_db: Any) -> None:
    postgres_db.reset()
    store = ResultsStore(postgres_db.url)
    search = create_search(store)

    def writer(index: int) -> Callable[[], None]:
        def write() -> None:
            store.start_trial(
                search_id=search.id, trial_key="shared", schedule=[1, 0], params={}
            )  # all threads start the same trial
            for epoch in range(20):
                store.record_epoch(
                    search_id=search.id,
                    trial_key="shared",
                    epoch=epoch,
                    metrics={"val_acc": 0.5 + index / 100, "seconds": 1.0},
                )

        return write

    assert run_threads(*(writer(i) for i in range(4))) == []
    trials, total = store.list_trials(search_id=search.id)
    assert total == 1 and trials[0].epochs_run == 20 and trials[0].seconds == 20.0
    assert len(store.epoch_metrics(trial_id=trials[0].id)) == 20
    store.dispose()
