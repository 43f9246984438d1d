"""The subprocess runner: the `prs-search run` command line, its environment, and early failures."""

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from api_factories import AUTH, TOKEN
from fastapi.testclient import TestClient

from api.errors import ConflictError
from api.launcher import Launcher, default_program
from api.schemas import SearchCreate

# Stands in for `prs-search`: prints its arguments and environment, then fails like an unknown dataset.
FAKE_RUN = (
    "import os, sys; print('argv', sys.argv[1:]); "
    "print('db', os.environ.get('PRS_DATABASE_URL')); print('ray', os.environ.get('RAY_ADDRESS')); "
    "print('token', os.environ.get('PRS_API_TOKEN')); "
    "print(\"error: unknown dataset 'nope'\", file=sys.stderr); sys.exit(2)"
)


def test_command_line_is_prs_search_run_with_the_options(tmp_path: Path) -> None:
    launcher = Launcher("none", tmp_path, "sqlite:///x.db", program=["prs-search"])
    options = SearchCreate(dataset="cifar100", budget=50, fraction=0.1, gpus_per_trial=0.25).run_options()
    command = launcher.command({**options, "name": "s1"})
    assert command[:2] == ["prs-search", "run"]
    assert command[2:] == [
        "--dataset=cifar100", "--budget=50", "--fraction=0.1", "--space=monotone", "--epochs=10", "--model=tiny",
        "--stem=conv", "--gpus-per-trial=0.25", "--cpus-per-trial=1.0", "--reduction-factor=3", "--seed=0",
        "--name=s1",
    ]  # fmt: skip


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
    launch = launcher.launch("s1", {"dataset": "nope", "budget": 3})
    assert launch.pid is not None and launch.state in ("starting", "exited")
    assert launch.process is not None and launch.process.wait(timeout=30) == 2

    log = (tmp_path / "runs" / "s1.log").read_text()
    assert "argv ['run', '--dataset=nope', '--budget=3', '--name=s1']" in log
    assert "db sqlite:///db.sqlite" in log and "ray ray://head:10001" in log
    assert "token None" in log  # the API's token is not handed to the run
    message = launcher.describe("s1")
    assert message is not None
    assert "exited with code 2 before registering: error: unknown dataset 'nope'" in message
    assert launcher.describe("other") is None


def test_same_name_while_starting_is_a_conflict_then_free_once_exited(tmp_path: Path) -> None:
    launcher = Launcher(
        "subprocess", tmp_path, "sqlite://", program=[sys.executable, "-c", "import time; time.sleep(60)"]
    )
    launch = launcher.launch("s1", {})
    assert launch.process is not None
    try:
        assert launcher.describe("s1") is not None and "is loading its data" in (launcher.describe("s1") or "")
        with pytest.raises(ConflictError, match="just accepted"):
            launcher.launch("s1", {})
    finally:
        launch.process.terminate()
        launch.process.wait(timeout=30)
    launcher.program = [sys.executable, "-c", "pass"]
    relaunched = launcher.launch("s1", {})
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
    assert "exited with code 2" in detail and "unknown dataset" in detail


def test_every_option_the_api_passes_is_an_option_of_prs_search_run() -> None:
    import typer.main

    from prs_search.cli import app

    run = typer.main.get_command(app).commands["run"]  # type: ignore[attr-defined]
    cli_options = {opt for param in run.params for opt in param.opts}
    body = SearchCreate(
        dataset="digits", budget=1, num_samples=300, max_concurrent=1, grace_period=2, compile=True, name="x"
    )
    command = Launcher("none", Path("."), "sqlite://", program=["prs-search"]).command(
        {**body.run_options(), "name": "x"}
    )
    passed = {arg.split("=", 1)[0] for arg in command[2:]}
    assert "--compile" in passed  # a boolean travels as a bare flag
    assert passed <= cli_options, passed - cli_options
