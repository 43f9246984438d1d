"""Searches the API really starts (`prs-search run-request` children, Ray, SQLite): the limit on searches at
once, DELETE stopping a running one as `cancelled` with its finished trials kept, and children that end
(`interrupted`, resumable) when the API stops."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
from api_factories import AUTH, LOCAL_BASE_URL, LOCAL_CLIENT, api_settings
from fastapi.testclient import TestClient

from prs_search.api.main import create_app
from prs_search.store import ResultsStore

pytestmark = pytest.mark.slow

# Long enough to be stopped half-way: 40 trials of 2 epochs, one at a time, no finalists' re-evaluation.
BODY = {
    "dataset": "digits", "fraction": 0.25, "budget": 40, "epochs": 2, "model": "tiny", "max_concurrent": 1,
    "grace_period": 2, "confirm_top": 0,
}  # fmt: skip


def wait_for(what: str, check: Callable[[], Any], timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def children_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the children the API starts read: a heartbeat every second, their folders in `tmp_path`."""
    children = {"PRS_DRIVER_HEARTBEAT_S": "1", "PRS_STORAGE_PATH": str(tmp_path / "ray"),
                "PRS_DATA_DIR": str(tmp_path / "data"), "PRS_HOME": str(tmp_path / "home")}  # fmt: skip
    for name, value in children.items():
        monkeypatch.setenv(name, value)


def running_in_study(url: str, study_name: str) -> list[int]:
    study = optuna.load_study(study_name=study_name, storage=url)
    return [t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]


def test_launched_searches_are_limited_cancelled_and_end_with_the_api(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    children_env(tmp_path, monkeypatch)
    settings = api_settings(sqlite_url, tmp_path / "home", api_runner="subprocess", api_max_searches=1)
    client = TestClient(create_app(settings), base_url=LOCAL_BASE_URL, client=LOCAL_CLIENT)
    client.__enter__()
    launcher = client.app.state.launcher  # type: ignore[attr-defined]
    try:
        assert client.post("/v1/searches", json={**BODY, "name": "first"}, headers=AUTH).status_code == 202
        refused = client.post("/v1/searches", json={**BODY, "name": "other"}, headers=AUTH)
        assert refused.status_code == 429 and "PRS_API_MAX_SEARCHES=1" in refused.json()["detail"]

        def finished_trials(name: str, running: bool = False) -> int:
            response = client.get(f"/v1/searches/{name}")
            if response.status_code != 200:
                return 0  # still loading its data
            body = response.json()
            return int(body["trials_finished"]) + (body["trial_counts"]["RUNNING"] if running else 0)

        wait_for("a finished trial", lambda: finished_trials("first") >= 1)
        cancel = client.delete("/v1/searches/first", headers=AUTH)
        assert cancel.status_code == 202 and cancel.json()["status"] == "cancelling"
        detail = wait_for(
            "the cancel", lambda: (d := client.get("/v1/searches/first").json())["status"] == "cancelled" and d
        )
        assert detail["trials_finished"] >= 1 and detail["trials_finished"] < BODY["budget"]
        assert launcher.get("first").process.wait(timeout=120) == 0  # the driver ended by itself
        # The trial it stopped half-way is closed, here and in the Optuna study (it is never resumed).
        assert detail["trial_counts"]["RUNNING"] == 0, detail
        assert running_in_study(sqlite_url, "prs-first") == []

        assert client.post("/v1/searches", json={**BODY, "name": "second"}, headers=AUTH).status_code == 202
        # Inside Ray Tune (a trial runs): from there an interrupt stops the trials and marks the search.
        wait_for("a trial of the second search", lambda: finished_trials("second", running=True) >= 1)
        second = launcher.get("second").process
    finally:
        client.__exit__(None, None, None)  # the API stops: its children with it
    assert second.poll() is not None
    stopped = TestClient(create_app(settings), base_url=LOCAL_BASE_URL, client=LOCAL_CLIENT)
    with stopped:
        assert stopped.get("/v1/searches/second").json()["status"] == "interrupted"  # resumable with the CLI
        assert stopped.get("/v1/searches/first").json()["trials_finished"] == detail["trials_finished"]


def test_a_cancel_during_the_re_evaluation_ends_the_search_cancelled(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cancel reaches the finalists' re-evaluation: it stops, and the search is neither tested nor
    recommended; the finished trials and re-evaluation runs stay."""
    children_env(tmp_path, monkeypatch)
    # Two finalists and the PRS default, each retrained with 10 more seeds, one run at a time: 30 runs.
    body = {**BODY, "name": "late", "budget": 2, "confirm_top": 2, "confirm_seeds": 10}
    settings = api_settings(sqlite_url, tmp_path / "home", api_runner="subprocess")
    store = ResultsStore(sqlite_url)
    with TestClient(create_app(settings), base_url=LOCAL_BASE_URL, client=LOCAL_CLIENT) as client:
        assert client.post("/v1/searches", json=body, headers=AUTH).status_code == 202
        search = wait_for("the search to register", lambda: store.get_search(name_or_id="late"), timeout=600)
        # The finalists' own trials are stored as their first runs just before the re-evaluation starts.
        wait_for("the re-evaluation", lambda: store.confirmation_runs(search_id=search.id), timeout=600)
        assert client.delete("/v1/searches/late", headers=AUTH).status_code == 202
        detail = wait_for(
            "the cancel", lambda: (d := client.get("/v1/searches/late").json())["status"] != "running" and d
        )
        assert client.app.state.launcher.get("late").process.wait(timeout=120) == 0  # type: ignore[attr-defined]
    assert (detail["status"], detail["error"], detail["test_acc"]) == ("cancelled", "cancelled on request", None)
    assert detail["trials_finished"] == body["budget"]
    runs = store.confirmation_runs(search_id=search.id)
    assert 0 < len(runs) < 3 * (body["confirm_seeds"] + 1), runs
    assert store.best_schedules(search_id=search.id) == []
    store.dispose()
