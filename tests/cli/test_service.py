"""`prs-search recommend | serve | dashboard` (through `register` on a fresh typer app)."""

import importlib
import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
import typer
from factories import TOKEN, Rows, searched_at_both_ends
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from prs_search.cli.service import register
from prs_search.errors import ConfigError, NotFoundError, PRSError, StoreError
from prs_search.store import ResultsStore

runner = CliRunner()
pytestmark = pytest.mark.usefixtures("clean_environment")  # the commands read the API's settings


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_registers_the_three_commands(cli: typer.Typer) -> None:
    assert sorted(c.name or "" for c in cli.registered_commands) == ["dashboard", "recommend", "serve"]


@pytest.mark.parametrize("size", [["--num-samples", "4000"], ["--num-samples", "2000"], ["--num-samples", "50"],
                                  ["--fraction", "0.04"]])  # fmt: skip
def test_recommend_json_is_the_rest_answer(
    cli: typer.Typer, client: TestClient, rows: Rows, sqlite_url: str, size: list[str]
) -> None:
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.30, fraction=0.02)
    rows.finished("cifar100", 4000, [6, 4, 1, 0], 0.50, test_acc=0.48)

    result = runner.invoke(cli, ["recommend", "--dataset", "cifar100", *size, "--json", "--db", sqlite_url])

    assert result.exit_code == 0, result.output
    params = {size[0].removeprefix("--").replace("-", "_"): size[1]}
    rest = client.get("/v1/recommendation", params={"dataset": "cifar100", **params})
    assert json.loads(result.stdout) == rest.json()


def test_recommend_table(cli: typer.Typer, rows: Rows, sqlite_url: str) -> None:
    rows.finished("cifar100", 1000, [10, 8, 6, 4], 0.30)
    result = runner.invoke(cli, ["recommend", "--dataset", "cifar100", "--num-samples", "50", "--db", sqlite_url])
    assert result.exit_code == 0
    assert "10,8,6,4" in result.stdout and "nearest" in result.stdout
    assert "warning: 50 images is outside the searched range" in result.stderr


def test_recommend_table_prints_the_models_interval(cli: typer.Typer, rows: Rows, sqlite_url: str) -> None:
    searched_at_both_ends(rows)
    result = runner.invoke(cli, ["recommend", "--dataset", "cifar100", "--num-samples", "1000", "--db", sqlite_url])
    assert result.exit_code == 0, result.output
    assert ": model" in result.stdout and "(model, 95%)" in result.stdout and "16 finished runs" in result.stdout


def cell(table: str, label: str) -> str:
    """The text of row `label` of a two-column rich table, its wrapped lines joined."""
    text, inside = [], False
    for line in table.splitlines():
        if line.startswith("│"):
            key, value = line.split("│")[1:3]
            inside = key.strip() == label if key.strip() else inside
            text += [value.strip()] if inside else []
    return " ".join(text)


def test_recommend_within_a_budget(cli: typer.Typer, rows: Rows, store: ResultsStore, sqlite_url: str) -> None:
    search = rows.search("cifar100", 1000)
    rows.trial(search, [4, 4, 4, 4], [0.5], flops=1e12, seconds=3.0)
    rows.trial(search, [2, 1, 0, 0], [0.7], flops=3e12, seconds=9.0)
    rows.trial(search, [0, 0, 0, 0], [0.9])  # trained before counting
    store.update_best_schedule(search_id=search.id)
    args = ["recommend", "--dataset", "cifar100", "--num-samples", "1000", "--db", sqlite_url]

    result = runner.invoke(cli, [*args, "--max-flops", "2e12"])
    assert result.exit_code == 0, result.output
    assert cell(result.stdout, "schedule") == "4,4,4,4"
    assert cell(result.stdout, "budget") == (
        "at most 2 TFLOP: this trial cost 1 TFLOP; the best without a budget (val 0.9000) cost -; 1 trials without "
        "a count were not candidates"
    )
    seconds = runner.invoke(cli, [*args, "--max-seconds", "4", "--json"])
    timed = json.loads(seconds.stdout)  # every trial is timed: the uncounted best (0.5 s) is a candidate
    assert timed["schedule"] == [0, 0, 0, 0] and timed["budget"]["chosen_cost"] == 0.5
    too_tight = runner.invoke(cli, [*args, "--max-flops", "1e9"])
    assert isinstance(too_tight.exception, NotFoundError) and "the cheapest counted trial cost 1 TFLOP" in str(
        too_tight.exception
    )
    not_searched = runner.invoke(cli, [*args[:3], "--num-samples", "5", *args[5:], "--max-seconds", "4"])
    assert isinstance(not_searched.exception, ConfigError) and "needs the cross-size model" in str(
        not_searched.exception
    )


def test_recommend_errors_are_prs_errors(cli: typer.Typer, sqlite_url: str) -> None:
    """`prs_search.cli.main` prints a PRSError as one line with exit code 2."""
    result = runner.invoke(cli, ["recommend", "--dataset", "nope", "--num-samples", "5", "--db", sqlite_url])
    assert isinstance(result.exception, NotFoundError)
    both = runner.invoke(
        cli, ["recommend", "--dataset", "x", "--num-samples", "5", "--fraction", "0.1", "--db", sqlite_url]
    )
    assert isinstance(both.exception, PRSError)


def _capture_run(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def run(*args: Any, **kwargs: Any) -> None:
        seen.update(args=args, kwargs=kwargs)

    monkeypatch.setattr(module, name, run)
    return seen


def test_serve_runs_the_app_factory(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    import uvicorn

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRS_API_TOKEN", TOKEN)
    monkeypatch.setenv("PRS_DATABASE_URL", "sqlite:///elsewhere.db")  # restored after the test
    seen = _capture_run(monkeypatch, uvicorn, "run")

    result = runner.invoke(cli, ["serve", "--db", sqlite_url, "--port", "8123"])

    assert result.exit_code == 0, result.output
    assert seen["args"] == ("prs_search.api.main:create_app",)
    assert seen["kwargs"]["factory"] is True and seen["kwargs"]["port"] == 8123
    assert seen["kwargs"]["host"] == "127.0.0.1"
    assert os.environ["PRS_DATABASE_URL"] == sqlite_url  # what the factory (in every worker) reads


def test_serve_refuses_unsafe_settings(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    import uvicorn

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRS_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("PRS_API_WRITES_ENABLED", "true")
    seen = _capture_run(monkeypatch, uvicorn, "run")

    no_token = runner.invoke(cli, ["serve"])
    assert isinstance(no_token.exception, ConfigError) and "PRS_API_TOKEN is not set" in str(no_token.exception)

    monkeypatch.setenv("PRS_API_AUTH_DISABLED", "true")
    public = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert isinstance(public.exception, ConfigError) and "for local use" in str(public.exception)
    assert not seen
    assert runner.invoke(cli, ["serve", "--host", "::1"]).exit_code == 0

    monkeypatch.delenv("PRS_API_AUTH_DISABLED")
    assert runner.invoke(cli, ["serve", "--read-only", "--host", "0.0.0.0"]).exit_code == 0


def test_serve_without_a_token_starts_read_only_on_loopback(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path
) -> None:
    import uvicorn

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PRS_DATABASE_URL", sqlite_url)
    seen = _capture_run(monkeypatch, uvicorn, "run")

    local = runner.invoke(cli, ["serve"])
    assert local.exit_code == 0, local.output
    assert seen["kwargs"]["host"] == "127.0.0.1"
    notes = [line for line in local.stderr.splitlines() if "read-only" in line]
    assert len(notes) == 1 and "PRS_API_TOKEN" in notes[0]  # one line saying how to enable writes
    seen.clear()
    public = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert isinstance(public.exception, ConfigError) and "no PRS_API_TOKEN is set" in str(public.exception)
    assert not seen


def test_dashboard_beyond_loopback_warns_that_it_has_no_authentication(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    import optuna_dashboard

    _capture_run(monkeypatch, optuna_dashboard, "run_server")
    local = runner.invoke(cli, ["dashboard", "--db", sqlite_url])
    assert "no authentication" not in local.stderr
    public = runner.invoke(cli, ["dashboard", "--db", sqlite_url, "--host", "0.0.0.0"])
    assert public.exit_code == 0 and "has no authentication and can delete studies" in public.stderr


def test_dashboard_serves_the_optuna_studies_of_the_database(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch, sqlite_url: str
) -> None:
    import optuna
    import optuna_dashboard

    seen = _capture_run(monkeypatch, optuna_dashboard, "run_server")
    result = runner.invoke(cli, ["dashboard", "--db", sqlite_url, "--port", "8099"])
    assert result.exit_code == 0, result.output
    (storage,) = seen["args"]
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert seen["kwargs"] == {"host": "127.0.0.1", "port": 8099}


def test_dashboard_unreachable_database_is_a_store_error(cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["dashboard", "--db", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=1"])
    assert isinstance(result.exception, StoreError) and "cannot open the Optuna studies" in str(result.exception)


def test_serve_unreachable_database_is_a_store_error(cli: typer.Typer, monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    seen = _capture_run(monkeypatch, uvicorn, "run")
    result = runner.invoke(cli, ["serve", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"])
    assert isinstance(result.exception, StoreError) and "cannot reach the database" in str(result.exception)
    assert not seen  # nothing listens that would answer only 503s


@pytest.mark.parametrize(("command", "module", "name"), [("serve", "uvicorn", "run"),
                                                         ("dashboard", "optuna_dashboard", "run_server")])  # fmt: skip
def test_a_port_in_use_is_one_line_before_the_server_starts(
    cli: typer.Typer, monkeypatch: pytest.MonkeyPatch, sqlite_url: str, command: str, module: str, name: str
) -> None:
    seen = _capture_run(monkeypatch, importlib.import_module(module), name)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(cli, [command, "--db", sqlite_url, "--port", str(port)])
    assert isinstance(result.exception, ConfigError), result.output
    assert f"cannot listen on 127.0.0.1:{port}" in str(result.exception) and "--port" in str(result.exception)
    assert not seen
