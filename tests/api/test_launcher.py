"""The subprocess runner: the request it hands `prs-search run-request`, its environment, and early failures."""

import ast
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from api_factories import AUTH, TOKEN
from fastapi.testclient import TestClient

from prs_search.api.errors import ConflictError
from prs_search.api.launcher import Launcher, default_program
from prs_search.api.schemas import SearchCreate
from prs_search.schemas import SearchRequest

# Stands in for `prs-search`: prints its arguments and environment, then fails like an unknown dataset.
FAKE_RUN = (
    "import os, sys; print('argv', sys.argv[1:]); "
    "print('db', os.environ.get('PRS_DATABASE_URL')); print('ray', os.environ.get('RAY_ADDRESS')); "
    "print('token', os.environ.get('PRS_API_TOKEN')); "
    "print(\"error: unknown dataset 'nope'\", file=sys.stderr); sys.exit(2)"
)


def test_the_command_hands_the_validated_request_to_run_request(tmp_path: Path) -> None:
    launcher = Launcher("none", tmp_path, "sqlite:///x.db", program=["prs-search"])
    body = SearchCreate(dataset="cifar100", budget=50, fraction=0.1, gpus_per_trial=0.25)
    launch = launcher.launch("s1", body)
    program, command, request, option, parent = launch.command
    assert (program, command, option, parent) == ("prs-search", "run-request", "--parent", str(os.getpid()))
    handed = SearchRequest.model_validate_json(request)  # what the child validates
    assert handed == SearchRequest(dataset="cifar100", budget=50, fraction=0.1, gpus_per_trial=0.25, name="s1")
    assert set(json.loads(request)) == set(SearchRequest.model_fields)  # the whole request travels, defaults too


def test_default_program_is_this_environments_cli() -> None:
    program = default_program()
    assert program in ([str(Path(sys.executable).with_name("prs-search"))], [sys.executable, "-m", "prs_search"])


def test_spawned_run_gets_the_database_and_reports_an_early_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRS_API_TOKEN", TOKEN)
    launcher = Launcher(
        "subprocess", tmp_path / "runs", "sqlite:///db.sqlite", ray_address="ray://head:10001",
        program=[sys.executable, "-c", FAKE_RUN],
    )  # fmt: skip
    launch = launcher.launch("s1", SearchRequest(dataset="nope", budget=3))
    assert launch.pid is not None and launch.state in ("starting", "exited")
    assert launch.process is not None and launch.process.wait(timeout=30) == 2

    log = (tmp_path / "runs" / "s1.log").read_text()
    argv = ast.literal_eval(re.search(r"^argv (.*)$", log, re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert argv[0] == "run-request" and argv[2:] == ["--parent", str(os.getpid())]
    assert SearchRequest.model_validate_json(argv[1]) == SearchRequest(dataset="nope", budget=3, name="s1")
    assert "db sqlite:///db.sqlite" in log and "ray ray://head:10001" in log
    assert "token None" in log  # the API's token is not handed to the run
    message = launcher.describe("s1")
    assert message is not None
    # How it ended, not why: the log's lines (paths, folder listings) are for the server only.
    assert "exited with code 2 before registering" in message and "s1.log" in message
    assert "unknown dataset" not in message and str(tmp_path) not in message
    assert launcher.describe("other") is None


def test_same_name_while_starting_is_a_conflict_then_free_once_exited(tmp_path: Path) -> None:
    launcher = Launcher(
        "subprocess", tmp_path, "sqlite://", program=[sys.executable, "-c", "import time; time.sleep(60)"]
    )
    request = SearchRequest(dataset="digits", budget=1)
    launch = launcher.launch("s1", request)
    assert launch.process is not None
    try:
        assert launcher.describe("s1") is not None and "is loading its data" in (launcher.describe("s1") or "")
        with pytest.raises(ConflictError, match="just accepted"):
            launcher.launch("s1", request)
    finally:
        launch.process.terminate()
        launch.process.wait(timeout=30)
    launcher.program = [sys.executable, "-c", "pass"]
    relaunched = launcher.launch("s1", request)
    assert relaunched.process is not None and relaunched.process.wait(timeout=30) == 0


def test_post_then_poll_a_run_that_failed_early(
    sqlite_url: str, make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(sqlite_url, api_runner="subprocess", api_runs_dir=tmp_path / "runs")
    client.app.state.launcher.program = [sys.executable, "-c", FAKE_RUN]  # type: ignore[attr-defined]
    response = client.post("/v1/searches", json={"dataset": "digits", "budget": 2, "name": "early"}, headers=AUTH)
    assert response.status_code == 202 and response.json()["state"] == "starting" and response.json()["pid"]
    deadline = time.monotonic() + 30
    while True:
        detail = client.get("/v1/searches/early").json()["detail"]
        if "exited" in detail or time.monotonic() > deadline:
            break
        assert "is loading its data" in detail
        time.sleep(0.05)
    assert "exited with code 2" in detail and "unknown dataset" not in detail and str(tmp_path) not in detail


def test_every_request_field_is_an_option_of_prs_search_run() -> None:
    """`prs-search run` and `POST /v1/searches` take the same `SearchRequest`: a field of it is an option."""
    import typer.main

    from prs_search.cli import app

    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    cli_options = {opt for param in commands["run"].params for opt in param.opts}
    fields = {f"--{name.replace('_', '-')}" for name in SearchRequest.model_fields}
    assert fields <= cli_options, fields - cli_options
    assert set(SearchCreate.model_fields) == set(SearchRequest.model_fields)  # the body is the request
    assert "run-request" in commands and commands["run-request"].hidden
