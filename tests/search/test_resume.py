"""kill -9 of the driver mid-search, then --resume: exactly `budget` trials, nothing lost, no duplicates;
with the results in SQLite and in PostgreSQL."""

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from prs_search.search.trial_checkpoint import load_trial_state
from prs_search.store import ResultsStore

pytestmark = pytest.mark.slow

logger = logging.getLogger(__name__)

BUDGET, EPOCHS = 5, 3
RUN = [
    sys.executable, "-m", "prs_search", "run", "--dataset", "digits", "--fraction", "0.25",
    "--budget", str(BUDGET), "--epochs", str(EPOCHS), "--model", "tiny", "--name", "killed", "--max-concurrent", "2",
    "--grace-period", str(EPOCHS),  # no ASHA stops: every trial must reach the last epoch
    "--confirm-top", "0",  # resume is about the trials; the re-evaluation has its own tests
]  # fmt: skip


def _wait_for_mid_search(store: ResultsStore, driver: subprocess.Popen[bytes], timeout: float = 240) -> None:
    """Block until >= 1 trial finished and another has a checkpointed epoch and two still to train.

    Two epochs to go, not one: the kill comes a poll later, and a trial one epoch from the end
    can finish in that gap (seen on a loaded CI machine), leaving nothing to continue.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert driver.poll() is None, "the search ended before it could be interrupted"
        search = store.get_search(name_or_id="killed")
        if search is not None:
            rows, _ = store.list_trials(search_id=search.id)
            finished = [t for t in rows if t.state != "RUNNING"]
            in_flight = [
                t for t in rows if t.state == "RUNNING" and 1 <= t.epochs_run <= EPOCHS - 2 and t.checkpoint_path
            ]
            if finished and in_flight:
                return
        time.sleep(0.2)  # an epoch here can be under a second
    raise AssertionError("the search never reached a mid-search state")


def _interrupted(store: ResultsStore, study_name: str, search_id: int) -> tuple[int, int]:
    """After the kill (the store no longer moves): an unfinished trial with a checkpoint, and its epochs."""
    study = optuna.load_study(study_name=study_name, storage=store.url)
    for trial in study.get_trials(deepcopy=False):
        row = store.find_trial(search_id=search_id, trial_key=str(trial.number))
        if not trial.state.is_finished() and row is not None and row.checkpoint_path:
            return trial.number, len(load_trial_state(row.checkpoint_path)["history"])
    raise AssertionError("the kill left no unfinished trial with a checkpoint")


def _first_epoch_reported(ray_results: Path, experiments_before: set[Path], optuna_number: int) -> int:
    """The first epoch the resumed driver's Ray trial reported for this Optuna trial."""
    (experiment,) = set(ray_results.iterdir()) - experiments_before
    for result_file in experiment.glob("trial_*/result.json"):
        lines = [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
        if lines and lines[0]["config"]["optuna_number"] == optuna_number:
            return int(lines[0]["epoch"])
    raise AssertionError(f"the resumed run never ran Optuna trial {optuna_number}")


def test_kill_driver_then_resume(tmp_path: Path, database_url: str) -> None:
    env = {**os.environ, "PRS_HOME": str(tmp_path), "PYTHONUNBUFFERED": "1"}
    run = [*RUN, "--db", database_url]
    store = ResultsStore(database_url)
    log = (tmp_path / "first.log").open("wb")
    driver = subprocess.Popen(run, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_mid_search(store, driver)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait(timeout=30)
    search = store.get_search(name_or_id="killed")
    assert search is not None and search.status == "running"
    interrupted, epochs_at_kill = _interrupted(store, search.study_name, search.id)
    left = store.driver_of(search_id=search.id, ttl_s=60)
    assert left is not None and left.pid == driver.pid and not left.alive  # its lease, not given back
    listed = subprocess.run(
        [sys.executable, "-m", "prs_search", "searches", "--db", database_url], env={**env, "COLUMNS": "100"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "no driver" in listed.stdout, listed.stdout
    assert "killed: its driver is gone; continue it: prs-search run --name killed --resume" in listed.stdout
    counts = {state.value: n for state, n in store.trial_counts(search_id=search.id).items()}
    logger.info("driver killed with trials %s; trial %d had %d epochs", counts, interrupted, epochs_at_kill)
    experiments_before = set((tmp_path / "ray_results").iterdir())

    resumed = subprocess.run([*run, "--resume"], env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    search = store.get_search(name_or_id="killed")
    assert search.status == "finished"
    assert store.driver_of(search_id=search.id, ttl_s=60) is None  # given back on the way out
    rows, total = store.list_trials(search_id=search.id)
    logger.info("after --resume: %s", {state.value: n for state, n in store.trial_counts(search_id=search.id).items()})
    assert total == BUDGET
    assert sorted(t.optuna_number for t in rows) == list(range(BUDGET))
    assert {t.state for t in rows} == {"COMPLETE"}
    for trial in rows:  # every epoch of every trial recorded once, none missing
        assert [e.epoch for e in store.epoch_metrics(trial_id=trial.id)] == list(range(EPOCHS))
    study = optuna.load_study(study_name=search.study_name, storage=store.url)
    assert len(study.trials) == BUDGET
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    # The interrupted trial continued from its checkpoint instead of starting again.
    first = _first_epoch_reported(tmp_path / "ray_results", experiments_before, interrupted)
    assert first == epochs_at_kill >= 1
