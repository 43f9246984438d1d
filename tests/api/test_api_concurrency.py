"""Reads never fail while a search writes: a writer thread records trials and epochs through its own
`ResultsStore` (as the search driver does, from another process) while clients hammer the GET routes."""

import threading
from collections.abc import Callable

import pytest
from factories import Rows
from fastapi.testclient import TestClient

from prs_search.store import ResultsStore

TRIALS = 6
EPOCHS = 20
MIN_READ_ROUNDS = 10

pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


def test_reads_while_a_search_writes(empty_url: str, make_client: Callable[..., TestClient]) -> None:
    driver = ResultsStore(empty_url)
    rows = Rows(driver)
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.3)
    search = rows.search("cifar100", 4000, budget=TRIALS)
    driver.set_search_status(search_id=search.id, status="running")
    client = make_client(empty_url, api_migrate=False)
    done = threading.Event()
    failures: list[str] = []
    reads: list[int] = []

    def write() -> None:
        try:
            for t in range(TRIALS):
                key = f"trial-{t}"
                driver.start_trial(search_id=search.id, trial_key=key, schedule=[t, t, 0, 0], params={"t": t})
                for epoch in range(EPOCHS):
                    driver.record_epoch(
                        search_id=search.id,
                        trial_key=key,
                        epoch=epoch,
                        metrics={"val_acc": 0.1 + 0.01 * epoch, "seconds": 0.1},
                    )
                driver.finish_trial(search_id=search.id, trial_key=key, state="COMPLETE" if t % 2 else "PRUNED")
                driver.update_best_schedule(search_id=search.id)  # the recommendation changes while being read
            # Keep writing (one more, long trial) until the readers have overlapped with enough writes.
            driver.start_trial(search_id=search.id, trial_key="long", schedule=[0, 0, 0, 0], params={})
            epoch = 0
            while len(reads) < MIN_READ_ROUNDS and epoch < 10_000:
                driver.record_epoch(
                    search_id=search.id, trial_key="long", epoch=epoch, metrics={"val_acc": 0.2, "seconds": 0.1}
                )
                epoch += 1
            driver.finish_trial(search_id=search.id, trial_key="long", state="PRUNED")
            driver.set_search_status(search_id=search.id, status="finished")
        except BaseException as exc:  # reported to the test
            failures.append(f"writer: {exc!r}")
        finally:
            done.set()

    def read(reader: TestClient) -> None:
        try:
            while not done.is_set():
                check_reads(reader, search.id)
                reads.append(1)
        except BaseException as exc:  # reported to the test
            failures.append(f"reader: {exc!r}")

    threads = [threading.Thread(target=write), threading.Thread(target=read, args=(TestClient(client.app),))]
    for thread in threads:
        thread.start()
    read(client)
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    driver.dispose()

    assert failures == []
    assert len(reads) >= MIN_READ_ROUNDS, f"the readers hardly ran ({len(reads)} rounds)"
    final = client.get(f"/v1/searches/{search.id}").json()
    assert final["status"] == "finished" and final["trials_finished"] == TRIALS + 1
    answer = client.get("/v1/recommendation", params={"dataset": "cifar100", "num_samples": 2000}).json()
    assert answer["method"] == "interpolated"


def check_reads(client: TestClient, search_id: int) -> None:
    detail = client.get(f"/v1/searches/{search_id}")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["trials_finished"] == sum(n for state, n in body["trial_counts"].items() if state != "RUNNING")
    trials = client.get(f"/v1/searches/{search_id}/trials", params={"limit": 1000})
    assert trials.status_code == 200, trials.text
    page = trials.json()
    assert page["count"] == len(page["data"])
    for trial in page["data"][-1:]:
        epochs = client.get(f"/v1/searches/{search_id}/trials/{trial['id']}/epochs")
        assert epochs.status_code == 200, epochs.text
        numbers = [e["epoch"] for e in epochs.json()["data"]]
        assert numbers == list(range(len(numbers)))  # never a partial write
    for path, params in [
        ("/v1/recommendation", {"dataset": "cifar100", "num_samples": 2000}),
        ("/v1/datasets", {}),
        ("/v1/searches", {}),
        ("/health", {}),
    ]:
        response = client.get(path, params=params)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
