"""GET /v1/recommendation from the cache: one SQL statement per cached answer, and every API worker sees a
finished search at its next request (the cache is keyed on the dataset's version in the database)."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from factories import Rows
from fastapi.testclient import TestClient
from sqlalchemy import event

from prs_search.recommend import recommend
from prs_search.store import ResultsStore


@contextmanager
def statements(store: ResultsStore) -> Iterator[list[str]]:
    """The SQL statements run on `store`'s engine inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", record)


def ask(client: TestClient, **params: object) -> dict[str, Any]:
    response = client.get("/v1/recommendation", params={"dataset": "cifar100", **params})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_cached_answer_costs_one_primary_key_read(client: TestClient, rows: Rows) -> None:
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.30)
    rows.finished("cifar100", 4000, [6, 4, 1, 0], 0.50)
    app_store: ResultsStore = client.app.state.stores.get()  # type: ignore[attr-defined]
    cache = client.app.state.recommendations  # type: ignore[attr-defined]
    with statements(app_store) as first:
        answer = ask(client, num_samples=2000)
    versions: list[str] = []  # the version reader's own connection (SQLite: a trace of its statements)
    app_store._versions._connection.set_trace_callback(versions.append)  # type: ignore[attr-defined]
    with statements(app_store) as second:
        again = ask(client, num_samples=2000)
    assert again == answer and answer["method"] == "interpolated"
    assert len([sql for sql in first if sql.startswith("SELECT")]) >= 3  # recommend() ran
    assert second == [] and cache.hits == 1  # nothing but the version read
    (read,) = versions
    assert read.startswith("SELECT") and "prs_dataset_versions" in read


def test_every_worker_sees_a_finished_search_at_once(empty_url: str, make_client: Callable[..., TestClient]) -> None:
    """Two apps (two API workers: caches of their own) on one database, while a driver writes."""
    driver = ResultsStore(empty_url)
    rows = Rows(driver)
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.30)
    workers = [make_client(empty_url, api_migrate=False) for _ in range(2)]
    for worker in workers:
        for _ in range(2):  # cached after the first
            assert ask(worker, num_samples=1000)["schedule"] == [10, 8, 6, 4]
            assert ask(worker, num_samples=4000)["method"] == "nearest"

    rows.finished("cifar100", 1000, [9, 7, 5, 3], 0.40)  # a better search at the same size
    rows.finished("cifar100", 4000, [6, 4, 1, 0], 0.50)  # and a new size
    for worker in workers:
        assert ask(worker, num_samples=1000)["schedule"] == [9, 7, 5, 3]
        four = ask(worker, num_samples=4000)
        assert (four["method"], four["schedule"]) == ("exact", [6, 4, 1, 0])
        assert ask(worker, num_samples=2000) == recommend(driver, "cifar100", 2000).model_dump(mode="json")
    driver.dispose()


def test_the_cache_never_answers_what_the_store_no_longer_would(client: TestClient, store: ResultsStore) -> None:
    """After each kind of write that recommend() reads, the served answer is recommend()'s own."""
    rows = Rows(store)
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.30, fraction=0.02)
    asked = [{"num_samples": 1000}, {"num_samples": 3000}, {"fraction": 0.1}]

    def agrees() -> None:
        for params in asked:
            expected = recommend(store, "cifar100", **params).model_dump(mode="json")  # type: ignore[arg-type]
            assert ask(client, **params) == expected, params

    agrees()
    running = rows.search("cifar100", 12500, fraction=0.5)  # a larger fraction: the split size it implies
    agrees()
    store.set_search_status(search_id=running.id, status="running")
    trial = rows.trial(running, [3, 2, 1, 0], [0.5, 0.6])
    agrees()
    store.update_best_schedule(search_id=running.id)
    agrees()
    store.set_test_result(search_id=running.id, trial_id=trial.id, test_acc=0.55)
    agrees()
    rows.trial(running, [2, 2, 1, 0], [0.1], state="PRUNED")  # trials_backing counts it
    store.set_search_status(search_id=running.id, status="finished")
    agrees()
