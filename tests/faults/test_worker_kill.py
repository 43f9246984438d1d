"""kill -9 of a trial's worker process mid-trial: Ray retries the trial from its last checkpoint
(FailureConfig max_failures) and its epochs in SQL stay continuous: each epoch once, 0..E-1."""

import logging
import os
import signal
from pathlib import Path
from typing import Any

import optuna
import pytest
from search.helpers import assert_search_agrees, tiny_request

from prs_search.store import ResultsStore

from .conftest import RayCluster
from .helpers import BackgroundSearch, epoch_rows, finished_search, ray_reports, running_trials

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

log = logging.getLogger(__name__)

EPOCHS = 4


def test_killed_trial_worker_is_retried_from_its_checkpoint(
    ray_cluster: RayCluster, postgres_url: str, tmp_path: Path
) -> None:
    # No ASHA stop (grace period = all epochs): the killed trial must run to its last epoch.
    request = tiny_request(
        tmp_path, postgres_url, budget=2, name="worker-kill", epochs=EPOCHS, grace_period=EPOCHS,
        ray_address=ray_cluster.address,
    )  # fmt: skip
    storage = Path(request.storage_path)
    store = ResultsStore(postgres_url)  # the tables, before the search makes them: the test polls them
    search = BackgroundSearch.start(request, ray_cluster.env(tmp_path / "home"), tmp_path)
    try:

        def trial_after_an_epoch() -> tuple[int, dict[str, Any]] | None:
            """A running trial whose first or second epoch Ray has recorded, with its latest report."""
            for trial in running_trials(store, "worker-kill"):
                reports = ray_reports(storage, "worker-kill", trial.optuna_number or 0)
                if reports and reports[-1]["epoch"] in (0, 1):
                    return trial.optuna_number or 0, reports[-1]
            return None

        number, last = search.wait_until(trial_after_an_epoch, "a trial past its first epoch")
        os.kill(int(last["pid"]), signal.SIGKILL)  # the pid Ray reports with every result of the trial
        log.info("killed pid %s of trial %d after epoch %d", last["pid"], number, last["epoch"])
        seconds = search.finish()
    finally:
        search.stop()

    reports = ray_reports(storage, "worker-kill", number)
    pids = list(dict.fromkeys(r["pid"] for r in reports))
    by_old = [r["epoch"] for r in reports if r["pid"] == last["pid"]]
    by_new = [r["epoch"] for r in reports if r["pid"] != last["pid"]]
    log.info("trial %d: epochs %s by the killed worker, %s by its retry %s", number, by_old, by_new, pids[1:])
    assert len(pids) == 2 and pids[0] == last["pid"], f"the trial was not retried in a new process: {pids}"
    # Continued from the checkpoint of the last epoch Ray recorded: no epoch trained twice, none skipped.
    assert by_new and by_new[0] == by_old[-1] + 1, (by_old, by_new)
    assert by_old + by_new == list(range(EPOCHS))

    epochs = epoch_rows(store, "worker-kill")
    log.info("epoch rows in SQL after the search: %s", epochs)
    assert epochs == {n: list(range(EPOCHS)) for n in range(request.budget)}
    found = store.get_search(name_or_id="worker-kill")
    assert found is not None
    rows, _ = store.list_trials(search_id=found.id)
    assert {t.state for t in rows} == {"COMPLETE"}
    study = optuna.load_study(study_name=found.study_name, storage=store.url)
    killed = study.trials[number]
    assert killed.state == optuna.trial.TrialState.COMPLETE
    assert sorted(killed.intermediate_values) == list(range(1, EPOCHS + 1))
    assert_search_agrees(store, finished_search(request, store, seconds))
    store.dispose()
