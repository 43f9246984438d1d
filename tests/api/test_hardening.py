"""The probes of issue 13 against the app (TestClient): who is answered, bodies that are not JSON or too
large, numbers JSON cannot hold, what error bodies reveal, names that read as ids, and the limits of
POST /v1/searches (budget x epochs, image folders, searches at once) and DELETE /v1/searches/{search}."""

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
from factories import AUTH, LOCAL_BASE_URL, LOCAL_CLIENT, Rows, api_settings
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import text

from prs_search.api.main import create_app
from prs_search.errors import ConflictError
from prs_search.search_request import SearchRequest
from prs_search.store import ResultsStore

BODY = {"dataset": "digits", "budget": 5}
REMOTE_CLIENT = ("203.0.113.9", 40000)
SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]  # stands in for a search that runs


def local_app(url: str, home: Path, **settings: object) -> TestClient:
    return TestClient(create_app(api_settings(url, home, **settings)), base_url=LOCAL_BASE_URL, client=LOCAL_CLIENT)


# -- who is answered --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode", [{"api_token": None}, {"api_token": None, "api_auth_disabled": True}], ids=["no-token", "auth-disabled"]
)
def test_without_a_token_only_this_machine_is_answered(
    sqlite_url: str, tmp_path: Path, mode: dict[str, object]
) -> None:
    app = create_app(api_settings(sqlite_url, tmp_path, **mode))
    with TestClient(app, base_url=LOCAL_BASE_URL, client=REMOTE_CLIENT) as remote:
        refused = remote.get("/v1/searches")
        assert refused.status_code == 403 and "answers this machine only" in refused.json()["detail"]
    with TestClient(app, base_url="http://rebound.example:8000", client=LOCAL_CLIENT) as rebound:
        # DNS rebinding: a page whose own name now resolves to 127.0.0.1 sends its name as the Host.
        refused = rebound.get("/v1/searches")
        assert refused.status_code == 400 and "Host header" in refused.json()["detail"]
    for base in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        with TestClient(app, base_url=base, client=LOCAL_CLIENT) as local:
            assert local.get("/v1/searches").status_code == 200, base


def test_an_api_with_a_token_answers_everyone(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(api_settings(sqlite_url, tmp_path))
    with TestClient(app, base_url="http://prs.example.org", client=REMOTE_CLIENT) as remote:
        assert remote.get("/v1/searches").status_code == 200
        assert remote.post("/v1/searches", json=BODY, headers=AUTH).status_code == 202


def test_allowed_hosts_can_be_set(sqlite_url: str, tmp_path: Path) -> None:
    app = create_app(api_settings(sqlite_url, tmp_path, api_allowed_hosts=["prs.example.org"]))
    with TestClient(app, base_url="http://prs.example.org", client=REMOTE_CLIENT) as named:
        assert named.get("/v1/searches").status_code == 200
    with TestClient(app, base_url="http://other.example.org", client=REMOTE_CLIENT) as other:
        assert other.get("/v1/searches").status_code == 400


# -- bodies -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("body", ['{"dataset": "digits", "budget": 5', "not json", '{"budget": 5,}'])
def test_a_body_that_is_not_json_is_400(client: TestClient, body: str) -> None:
    response = client.post("/v1/searches", content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("the body is not valid JSON")


@pytest.mark.parametrize(
    "body",
    [
        '{"dataset": "digits", "budget": NaN}',
        '{"dataset": "digits", "budget": Infinity}',
        '{"dataset": "digits", "budget": 1e400}',
        '{"dataset": "digits", "budget": 5, "fraction": NaN}',
        '{"dataset": "digits", "budget": 5, "gpus_per_trial": -Infinity}',
        '{"dataset": "digits", "budget": 5, "cpus_per_trial": 1e400}',
    ],
)
def test_numbers_json_cannot_hold_are_422_not_500(client: TestClient, body: str) -> None:
    response = client.post("/v1/searches", content=body, headers={**AUTH, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["input"] in ("NaN", "Infinity", "-Infinity")


def test_a_body_over_the_limit_is_413_json(sqlite_url: str, make_client: Callable[..., TestClient]) -> None:
    client = make_client(sqlite_url, api_max_body_bytes=2048)
    padded = {**BODY, "name": "x" * 100}
    assert client.post("/v1/searches", json=padded, headers=AUTH).status_code == 202
    response = client.post("/v1/searches", json={**BODY, "name": "x" * 4096}, headers=AUTH)
    assert response.status_code == 413 and "PRS_API_MAX_BODY_BYTES" in response.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it is read
        yield b'{"dataset": "digits", "budget": 5, "name": "'
        yield b"y" * 4096
        yield b'"}'

    streamed = client.post("/v1/searches", content=chunks(), headers={**AUTH, "content-type": "application/json"})
    assert streamed.status_code == 413 and "PRS_API_MAX_BODY_BYTES" in streamed.json()["detail"]


# -- what error bodies reveal -----------------------------------------------------------------------


def test_health_and_503_bodies_do_not_carry_the_database_url(make_client: Callable[..., TestClient]) -> None:
    client = make_client("postgresql+psycopg://nobody:hunter2@127.0.0.1:1/secretdb?connect_timeout=1")
    health = client.get("/health")
    down = client.get("/v1/datasets")
    assert (health.status_code, down.status_code) == (503, 503)
    for body in (health.text, down.text):
        for secret in ("127.0.0.1", ":1/", "nobody", "hunter2", "secretdb", "psycopg"):
            assert secret not in body, (secret, body)
    assert "database cannot be reached" in health.json()["detail"] and health.json()["backend"] == "postgresql"


# -- names and ids ----------------------------------------------------------------------------------


def test_a_name_of_digits_is_refused_and_never_shadows_an_id(
    client: TestClient, store: ResultsStore, rows: Rows
) -> None:
    response = client.post("/v1/searches", json={**BODY, "name": "123"}, headers=AUTH)
    assert response.status_code == 422
    with pytest.raises(ValidationError, match="must not be all digits"):  # the NewSearch record refuses it
        rows.search(name="42")
    first, second = rows.search(name="first"), rows.search(name="second")
    # An older database may hold a search named like another one's id: the id wins.
    with store.engine.begin() as conn:
        rename = text("UPDATE prs_searches SET name = :name WHERE id = :id")
        conn.execute(rename, {"name": str(first.id), "id": second.id})
    assert client.get(f"/v1/searches/{first.id}").json()["id"] == first.id
    assert client.get("/v1/searches/999").status_code == 404


# -- limits of POST /v1/searches --------------------------------------------------------------------


def test_budget_times_epochs_is_capped(sqlite_url: str, make_client: Callable[..., TestClient]) -> None:
    client = make_client(sqlite_url, api_max_trial_epochs=1000)
    assert client.post("/v1/searches", json={**BODY, "budget": 100, "epochs": 10}, headers=AUTH).status_code == 202
    response = client.post("/v1/searches", json={**BODY, "budget": 101, "epochs": 10}, headers=AUTH)
    assert response.status_code == 422 and "PRS_API_MAX_TRIAL_EPOCHS=1000" in response.json()["detail"]


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """An allowed root with one good image folder (class folders; a file per class)."""
    root = tmp_path / "images"
    for name in ("cats", "dogs"):
        (root / "pets" / name).mkdir(parents=True)
        (root / "pets" / name / "0.png").write_bytes(b"png")
    return root


def _post_folder(client: TestClient, path: object) -> tuple[int, str]:
    response = client.post("/v1/searches", json={**BODY, "dataset": f"imagefolder:{path}"}, headers=AUTH)
    return response.status_code, response.json().get("name") if response.status_code == 202 else response.text


def test_image_folders_are_off_without_roots(client: TestClient) -> None:
    status, text_ = _post_folder(client, "/etc")
    assert status == 422 and "turned off" in text_ and "passwd" not in text_


def test_image_folders_only_inside_the_roots_without_links(
    sqlite_url: str, make_client: Callable[..., TestClient], image_root: Path, tmp_path: Path
) -> None:
    client = make_client(sqlite_url, api_imagefolder_roots=[image_root], api_imagefolder_max_entries=50)
    status, name = _post_folder(client, image_root / "pets" / ".." / "pets")
    assert status == 202
    launched = client.app.state.launcher.get(name)  # type: ignore[attr-defined]
    assert SearchRequest.model_validate_json(launched.command[2]).dataset == f"imagefolder:{image_root / 'pets'}"

    outside = tmp_path / "outside"
    (outside / "a").mkdir(parents=True)
    (image_root / "escape").symlink_to(outside)  # resolves out of the root
    loop = image_root / "loop" / "cls"
    loop.mkdir(parents=True)
    (loop / "again").symlink_to(image_root / "loop")  # a folder that contains itself
    big = image_root / "big" / "cls"
    big.mkdir(parents=True)
    for i in range(60):
        (big / f"{i}.png").write_bytes(b"")
    for path, expected in [
        ("/etc", "not a folder inside"),
        (image_root / "escape", "not a folder inside"),
        (image_root / "pets" / ".." / ".." / "outside", "not a folder inside"),
        (image_root / "missing", "not a folder inside"),
        ("pets", "absolute PATH"),
        (image_root / "loop", "symbolic link"),
        (image_root / "big", "more than 50"),
    ]:
        status, text_ = _post_folder(client, path)
        assert status == 422 and expected in text_, (path, text_)
        assert str(image_root) not in text_ and str(tmp_path) not in text_  # no server path in the answer


def test_searches_at_once_are_capped_with_429(
    sqlite_url: str, make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(sqlite_url, api_runner="subprocess", api_runs_dir=tmp_path / "runs", api_max_searches=2)
    launcher = client.app.state.launcher  # type: ignore[attr-defined]
    launcher.program = SLEEPER
    try:
        for name in ("one", "two"):
            assert client.post("/v1/searches", json={**BODY, "name": name}, headers=AUTH).status_code == 202
        third = client.post("/v1/searches", json={**BODY, "name": "three"}, headers=AUTH)
        assert third.status_code == 429 and third.headers["retry-after"]
        assert "PRS_API_MAX_SEARCHES=2" in third.json()["detail"]
        assert launcher.get("three") is None  # nothing was started
        assert client.delete("/v1/searches/one", headers=AUTH).json()["status"] == "cancelled"  # it had not registered
        assert launcher.get("one").returncode is not None
        assert client.post("/v1/searches", json={**BODY, "name": "three"}, headers=AUTH).status_code == 202
    finally:
        launcher.shutdown(grace_s=5)
    assert launcher.running() == []


# -- DELETE /v1/searches/{search} -------------------------------------------------------------------


def test_cancel_needs_the_token_and_marks_a_search_without_driver_cancelled(
    client: TestClient, store: ResultsStore, rows: Rows
) -> None:
    pending = rows.search(name="waiting")
    best = rows.finished("cifar100", 1000, [3, 2, 1, 0], 0.5, name="done")
    assert client.delete("/v1/searches/waiting").status_code == 401
    trial = rows.trial(pending, [3, 2, 1, 0], [0.2, 0.3])
    # Its dead driver left one trial running, in the store and in the Optuna study.
    store.start_trial(search_id=pending.id, trial_key="left", schedule=[2, 2, 1, 0], params={}, optuna_number=0)
    storage = optuna.storages.RDBStorage(store.url, engine_kwargs=store.optuna_engine_kwargs())
    optuna.create_study(study_name=pending.study_name, storage=storage).ask()
    response = client.delete("/v1/searches/waiting", headers=AUTH)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    detail = client.get("/v1/searches/waiting").json()
    assert detail["status"] == "cancelled" and detail["finished_at"] and detail["trial_counts"]["COMPLETE"] == 1
    assert detail["trial_counts"]["RUNNING"] == 0 and detail["trial_counts"]["FAIL"] == 1  # nothing shown live
    study = optuna.load_study(study_name=pending.study_name, storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL]
    assert store.get_trial(trial_id=trial.id) == trial  # its finished trial stays
    again = client.delete("/v1/searches/waiting", headers=AUTH)
    assert again.status_code == 409 and "cancelled already" in again.json()["detail"]
    finished = client.delete(f"/v1/searches/{best.search_id}", headers=AUTH)
    assert finished.status_code == 409 and "finished already" in finished.json()["detail"]
    assert client.delete("/v1/searches/nothing-here", headers=AUTH).status_code == 404
    # A cancelled search is not run again by a driver.
    with pytest.raises(ConflictError, match="was cancelled"):
        store.acquire_driver(search_id=pending.id, origin="cli", ttl_s=60)


def test_cancel_of_a_running_driver_is_asked_through_its_lease(
    client: TestClient, store: ResultsStore, rows: Rows
) -> None:
    search = rows.search(name="busy")
    store.set_search_status(search_id=search.id, status="running")
    lease = store.acquire_driver(search_id=search.id, origin="cli", ttl_s=60)  # this process is its driver
    response = client.delete("/v1/searches/busy", headers=AUTH)
    assert response.status_code == 202 and response.json()["status"] == "cancelling"
    beat = store.heartbeat_driver(search_id=search.id, holder=lease.holder, ttl_s=60)
    assert beat is not None and beat.cancel_requested_at is not None  # what the driver's heartbeat reads
    assert client.get("/v1/searches/busy").json()["status"] == "running"  # until the driver has stopped


def test_a_search_shows_its_driver_and_one_that_died_as_not_alive(
    client: TestClient, store: ResultsStore, rows: Rows
) -> None:
    search = rows.search(name="orphaned")
    store.set_search_status(search_id=search.id, status="running")
    assert client.get("/v1/searches/orphaned").json()["driver"] is None
    # A driver that takes the lease and dies without giving it back, as `kill -9` leaves it.
    took = (
        "from prs_search.store import ResultsStore\n"
        f"ResultsStore({store.url!r}).acquire_driver(search_id={search.id}, origin='cli', ttl_s=60)"
    )
    subprocess.run([sys.executable, "-c", took], check=True, timeout=120)
    driver = client.get("/v1/searches/orphaned").json()["driver"]
    assert driver["alive"] is False and driver["pid"] != os.getpid() and driver["origin"] == "cli"
    assert "holder" not in driver  # the holder's id stays in the database
    store.acquire_driver(search_id=search.id, origin="cli", ttl_s=60)  # taken over by this (live) process
    driver = client.get("/v1/searches/orphaned").json()["driver"]
    assert driver["alive"] is True and driver["pid"] == os.getpid()


def test_a_warm_start_that_cannot_happen_is_422_before_anything_starts(
    client: TestClient, rows: Rows, store: ResultsStore
) -> None:
    """Asked for with nothing to learn from (no other size searched alike), a warm start is refused with the
    reason, instead of a 202 and a driver that fails; not asked for, the same search is accepted."""
    rows.finished("digits", 300, [5, 3, 2, 0], 0.9)  # one other size: too little for the cross-size model
    response = client.post("/v1/searches", json={**BODY, "num_samples": 600, "warm_start": True}, headers=AUTH)
    assert response.status_code == 422
    assert response.json()["detail"].startswith("cannot warm-start: no other size of digits was searched with model")
    assert store.get_search(name_or_id="digits-600") is None
    assert client.post("/v1/searches", json={**BODY, "num_samples": 600}, headers=AUTH).status_code == 202


@pytest.mark.parametrize("blank", ["\x85", "\xa0", "\u3000", " \u2028 "])
def test_text_of_unicode_white_space_only_is_refused_by_the_schema_and_the_server(
    client: TestClient, blank: str
) -> None:
    """The published pattern spells white space out, so a schema-driven client reads it as the server does:
    U+0085 is white space to pydantic but not to JavaScript's `\\s` (a fuzzer once sent it as valid text)."""
    parameters = client.get("/openapi.json").json()["paths"]["/v1/searches"]["get"]["parameters"]
    (dataset,) = [p["schema"] for p in parameters if p["name"] == "dataset"]
    text_pattern = (dataset["anyOf"][0] if "anyOf" in dataset else dataset)["pattern"]
    assert "\\s" not in text_pattern and re.search(text_pattern, blank) is None
    assert client.get("/v1/searches", params={"dataset": blank}).status_code == 422
