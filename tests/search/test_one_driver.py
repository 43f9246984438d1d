"""Two real `prs-search run --name X` drivers at once: the second is refused in one line while the first
holds the search's lease, and the budget is spent once; with the results in SQLite and in PostgreSQL."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from prs_search.store import ResultsStore

pytestmark = pytest.mark.slow

BUDGET = 3
RUN = [
    sys.executable, "-m", "prs_search", "run", "--dataset", "digits", "--fraction", "0.25", "--budget", str(BUDGET),
    "--epochs", "2", "--model", "tiny", "--name", "once", "--max-concurrent", "1", "--confirm-top", "0",
]  # fmt: skip


def test_a_second_driver_of_a_running_search_is_refused(
    tmp_path: Path, database_url: str, inside_a_write: Callable[[str, int], AbstractContextManager[None]]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRS_") and k != "RAY_ADDRESS"}
    env.update(PRS_HOME=str(tmp_path), PYTHONUNBUFFERED="1")
    run = [*RUN, "--db", database_url]
    store = ResultsStore(database_url)
    with (tmp_path / "first.log").open("wb") as log:
        first = subprocess.Popen(run, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not store.live_drivers(ttl_s=60):
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the first driver never took its lease"
            time.sleep(0.5)
        # The first driver, held still from before the second starts to after it ends, keeps its lease (its
        # process exists) and cannot finish the search first. It is held inside a long write, as a live
        # driver can be (SQLite: the whole file locked); the lock is taken before the stop, so it waits for
        # any write of the first driver's own to end, and where the stop lands does not matter.
        search = store.get_search(name_or_id="once")
        assert search is not None
        with inside_a_write(database_url, search.id):
            first.send_signal(signal.SIGSTOP)
            try:
                second = subprocess.run(run, env=env, capture_output=True, text=True, timeout=600)
            finally:
                first.send_signal(signal.SIGCONT)
        assert first.wait(timeout=600) == 0, (tmp_path / "first.log").read_text()[-3000:]
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert second.returncode == 2, second.stderr[-3000:]
    assert "Traceback" not in second.stderr
    last = second.stderr.strip().splitlines()[-1]
    assert last.startswith("error: search 'once' is being run by another driver (pid "), last
    search = store.get_search(name_or_id="once")
    assert search is not None and search.status == "finished"
    rows, total = store.list_trials(search_id=search.id)
    assert total == BUDGET and sorted(t.optuna_number for t in rows) == list(range(BUDGET))
    assert store.live_drivers(ttl_s=60) == []  # released on the way out
    store.dispose()
