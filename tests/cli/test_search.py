"""`prs-search trials --pareto` (through `register` on a fresh typer app): the accuracy-compute front as a table."""

import pytest
import typer
from factories import Rows
from typer.testing import CliRunner

from prs_search.cli.search import register
from prs_search.schemas import WarmStart

runner = CliRunner()


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


@pytest.fixture
def search_name(rows: Rows) -> str:
    """A search of four layers and four epochs whose trials ran two epochs each (FLOPs and seconds per epoch)."""
    search = rows.search(epochs=4, name="fronted")
    rows.trial(search, [4, 4, 4, 4], [0.40, 0.50], flops=1e12, seconds=9.0)  # the cheapest in FLOPs
    rows.trial(search, [2, 2, 0, 0], [0.50, 0.70], flops=3e12, seconds=4.0)  # the best; fastest
    rows.trial(search, [3, 3, 3, 3], [0.45, 0.45], flops=2e12, seconds=8.0)  # dominated both ways
    rows.trial(search, [0, 0, 0, 0], [0.80, 0.90])  # the most accurate, but trained before counting
    rows.trial(search, [1, 1, 1, 1], [0.10], state="PRUNED", flops=1e11)
    return search.name


def test_the_front_in_flops_is_cheapest_first_and_says_what_was_left_out(
    cli: typer.Typer, sqlite_url: str, search_name: str
) -> None:
    result = runner.invoke(cli, ["trials", search_name, "--pareto", "--db", sqlite_url], terminal_width=200)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    shown = [line for line in lines if "│" in line and "schedule" not in line]
    assert [line.split("│")[2].strip() for line in shown] == ["4,4,4,4", "2,2,0,0"]
    assert "2 TFLOP" in shown[0] and "0.5000" in shown[0] and "0%" in shown[0]  # all-conv: no attention epoch
    assert "6 TFLOP" in shown[1] and "0.7000" in shown[1] and "75%" in shown[1]  # (2+2+4+4) / 16
    assert "2 trials on the front" in result.stdout
    assert "4 complete trials considered; 1 had no counted FLOPs" in " ".join(result.stdout.split())


def test_the_front_in_seconds_counts_every_complete_trial(cli: typer.Typer, sqlite_url: str, search_name: str) -> None:
    args = ["trials", search_name, "--pareto", "--cost", "seconds", "--db", sqlite_url]
    result = runner.invoke(cli, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    shown = [line for line in result.stdout.splitlines() if "│" in line and "schedule" not in line]
    # Untimed trials took the factory's 0.5 s per epoch: the uncounted one is the fastest and the best.
    assert [line.split("│")[2].strip() for line in shown] == ["0,0,0,0"]
    assert "had no counted" not in result.stdout


def test_an_unknown_cost_is_refused_by_its_choices(cli: typer.Typer, sqlite_url: str, search_name: str) -> None:
    result = runner.invoke(cli, ["trials", search_name, "--pareto", "--cost", "watts", "--db", sqlite_url])
    assert result.exit_code == 2
    assert "watts" in result.output


def test_the_trials_table_says_how_the_search_was_warm_started(cli: typer.Typer, rows: Rows, sqlite_url: str) -> None:
    warm = WarmStart(schedules=((3, 2, 1, 0), (4, 4, 0, 0)), predicted_val_acc=(0.7, 0.6), sizes=(500, 2000), runs=16)
    search = rows.search(epochs=4, name="warmed", warm_started=warm)
    rows.trial(search, [3, 2, 1, 0], [0.5, 0.7])
    result = runner.invoke(cli, ["trials", search.name, "--db", sqlite_url], terminal_width=200)
    assert result.exit_code == 0, result.output
    words = " ".join(result.stdout.split())  # the caption wraps at the table's width
    assert "warm start: first trials 3,2,1,0; 4,4,0,0, from the cross-size model (16 runs of sizes 500, 2000)" in words
    cold = runner.invoke(cli, ["trials", "fronted-none", "--db", sqlite_url])
    assert "warm start" not in cold.output
