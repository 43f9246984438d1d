"""PostgreSQL goes down and comes back while trials run: the search waits for it (the store's and
Optuna's calls retry), finishes, and no trial or epoch row is lost; and the two kinds of call a
driver makes, each made during an outage.

The server is a private one (see conftest): restarting the machine's shared PostgreSQL would cut off
every other test and service using it. It is stopped the way a service restart stops it (fast mode:
every session terminated) and kept down for `OUTAGE_S`, longer than a plain restart (well under a
second here) so that the driver certainly calls the database while it is gone.
"""

import logging
import threading
import time
from pathlib import Path

import optuna
import pytest
from search.helpers import assert_search_agrees, tiny_request

from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore
from prs_search.store.db import PATIENT_RETRIES, retry_transient

from .conftest import PostgresServer, RayCluster
from .helpers import BackgroundSearch, epoch_rows, finished_search, running_trials

log = logging.getLogger(__name__)

OUTAGE_S = 6.0


@pytest.mark.slow
@pytest.mark.postgres
def test_search_survives_a_postgres_restart(
    ray_cluster: RayCluster, private_postgres: PostgresServer, tmp_path: Path
) -> None:
    url = private_postgres.create_database("restart")
    request = tiny_request(tmp_path, url, budget=3, name="pg-restart", ray_address=ray_cluster.address)
    store = ResultsStore(url)  # the tables, before the search makes them: the test polls them
    search = BackgroundSearch.start(request, ray_cluster.env(tmp_path / "home"), tmp_path)
    try:
        search.wait_until(lambda: any(t.epochs_run >= 1 for t in running_trials(store, "pg-restart")), "an epoch")
        before = epoch_rows(store, "pg-restart")
        store.dispose()
        down = time.monotonic()
        private_postgres.stop("fast")
        try:
            time.sleep(OUTAGE_S)
            assert search.process.poll() is None, "the search ended while the database was down"
        finally:
            private_postgres.start()  # waits until it accepts connections again
        log.info("PostgreSQL down for %.1f s; epoch rows before: %s", time.monotonic() - down, before)
        seconds = search.finish()
    finally:
        search.stop()

    output = search.output()
    assert "transient database error" in output, "the driver never noticed the outage: the test did not test anything"
    after = epoch_rows(store, "pg-restart")
    log.info("epoch rows after: %s (%d trials, %d rows)", after, len(after), sum(map(len, after.values())))
    assert len(after) == request.budget
    for number, epochs in before.items():  # nothing written before the outage is gone
        assert after[number][: len(epochs)] == epochs
    assert_search_agrees(store, finished_search(request, store, seconds))
    found = store.get_search(name_or_id="pg-restart")
    assert found is not None
    study = optuna.load_study(study_name=found.study_name, storage=store.url)
    assert len(study.trials) == request.budget
    store.dispose()


@pytest.mark.postgres
def test_store_and_optuna_calls_wait_for_the_database(private_postgres: PostgresServer) -> None:
    """The two kinds of call a driver makes, each issued while the server is down, done once it is back."""
    url = private_postgres.create_database("calls")
    store = ResultsStore(url, retries=PATIENT_RETRIES)
    search = store.create_search(NewSearch(
        name="s", dataset="digits", num_samples=100, fraction=None, space="monotone", space_config={}, budget=2,
        epochs=3, model="tiny", model_config={}, stem="conv", seed=0, study_name="study-s",
    ))  # fmt: skip
    study = optuna.create_study(
        storage=optuna.storages.RDBStorage(store.url, engine_kwargs=store.optuna_engine_kwargs()),
        study_name="study-s", direction="maximize",
    )  # fmt: skip
    private_postgres.stop("fast")
    back = threading.Timer(3.0, private_postgres.start)
    back.start()
    try:
        started = time.monotonic()
        trial = retry_transient(study.ask, retries=PATIENT_RETRIES)  # Optuna's error wraps the driver's
        waited = time.monotonic() - started
        store.start_trial(
            search_id=search.id, trial_key=str(trial.number), schedule=[3, 2, 1, 0], params={},
            optuna_number=trial.number,
        )  # fmt: skip
    finally:
        back.join()
    log.info("Optuna's ask() waited %.1f s for the server", waited)
    assert waited >= 2.0, "the call did not meet the outage"
    assert [t.number for t in study.trials] == [0]
    assert [t.optuna_number for t in store.list_trials(search_id=search.id)[0]] == [0]
    store.dispose()
