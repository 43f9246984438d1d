"""Real searches (Ray Tune + Optuna + SQL, no mocks), each run once per module and inspected by several
tests: SQLite with a budget that lets ASHA stop trials, then the same search on PostgreSQL."""

import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from prs_search.recommend import recommend
from prs_search.search import cluster, run_search
from prs_search.store import ResultsStore

from .helpers import FinishedSearch, assert_search_agrees, cli_env, run_cli, tiny_request

pytestmark = pytest.mark.slow

SQLITE_BUDGET = 8  # with max_concurrent=2, grace_period=1, reduction_factor=2: rungs at epochs 1 and 2
POSTGRES_BUDGET = 4


@pytest.fixture(scope="module", autouse=True)
def _ray() -> Iterator[None]:
    """Both searches share one local Ray instance (started by the first), stopped after the module."""
    yield
    cluster.shutdown()


def _search(tmp: Path, url: str, budget: int, name: str) -> FinishedSearch:
    request = tiny_request(tmp, url, budget=budget, name=name)
    started = time.monotonic()
    summary = run_search(request)
    return FinishedSearch(url, name, request, summary, time.monotonic() - started)


@pytest.fixture(scope="module")
def sqlite_search(tmp_path_factory: pytest.TempPathFactory) -> FinishedSearch:
    tmp = tmp_path_factory.mktemp("sqlite_search")
    return _search(tmp, f"sqlite:///{tmp / 'prs.db'}", SQLITE_BUDGET, "sq")


@pytest.fixture(scope="module")
def postgres_search(postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> FinishedSearch:
    return _search(tmp_path_factory.mktemp("postgres_search"), postgres_url, POSTGRES_BUDGET, "pg")


def test_sql_agrees_with_ray_and_optuna(sqlite_search: FinishedSearch) -> None:
    with ResultsStore(sqlite_search.url, migrate=False) as store:
        assert_search_agrees(store, sqlite_search)


def test_asha_stops_trials_and_optuna_calls_them_pruned(sqlite_search: FinishedSearch) -> None:
    epochs = sqlite_search.request.epochs
    with ResultsStore(sqlite_search.url, migrate=False) as store:
        search = store.get_search(name_or_id=sqlite_search.name)
        assert search is not None
        rows = {t.optuna_number: t for t in store.list_trials(search_id=search.id)[0]}
    study = optuna.load_study(study_name=search.study_name, storage=sqlite_search.url)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.PRUNED) >= 1, f"ASHA stopped no trial: {states}"
    assert states.count(TrialState.COMPLETE) >= 1
    assert TrialState.FAIL not in states
    for trial in study.trials:
        row = rows[trial.number]
        if trial.state == TrialState.PRUNED:
            # Stopped at an ASHA rung (grace period 1, then x2): after epoch 1 or 2 of 3.
            assert row.state == "PRUNED" and row.epochs_run in (1, 2) and row.epochs_run < epochs
            assert trial.last_step == row.epochs_run
        else:
            assert row.state == "COMPLETE" and row.epochs_run == epochs
            assert trial.last_step == epochs


def test_cli_lists_the_search_and_its_trials(sqlite_search: FinishedSearch, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    db = ["--db", sqlite_search.url]
    listed = run_cli(["searches", *db], env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "1 searches" in listed.stdout
    line = next(line for line in listed.stdout.splitlines() if f" {sqlite_search.name} " in line)
    assert "digits" in line and "finished" in line and "monotone_stem_lr" in line
    assert f"{sqlite_search.summary.test_acc:.4f}" in line

    with ResultsStore(sqlite_search.url, migrate=False) as store:
        search = store.get_search(name_or_id=sqlite_search.name)
        assert search is not None
        rows = store.list_trials(search_id=search.id)[0]
    for name_or_id in (sqlite_search.name, str(search.id)):
        shown = run_cli(["trials", name_or_id, *db], env, cwd=tmp_path)
        assert shown.returncode == 0, shown.stderr
        assert f"{sqlite_search.name}: {SQLITE_BUDGET} trials" in shown.stdout
        body = shown.stdout.splitlines()
        for trial in rows:
            schedule = ",".join(map(str, trial.schedule))
            (line,) = [x for x in body if x.startswith(f"│ {trial.trial_key} ")]
            assert str(trial.state) in line and schedule in line and f"{trial.val_acc:.4f}" in line
        states = [x for x in body if "COMPLETE" in x or "PRUNED" in x]
        assert len(states) == SQLITE_BUDGET
        # Best first: the COMPLETE trials, by validation accuracy, come before the PRUNED ones.
        assert [("COMPLETE" in x) for x in states] == sorted(("COMPLETE" in x for x in states), reverse=True)


def test_without_re_evaluation_the_best_trial_is_the_answer(sqlite_search: FinishedSearch) -> None:
    """--confirm-top 0 (these searches): no re-evaluation runs, the best trial is stored without an interval,
    and the recommendation says that no interval exists."""
    with ResultsStore(sqlite_search.url, migrate=False) as store:
        search = store.get_search(name_or_id=sqlite_search.name)
        assert search is not None and search.confirm_top == 0
        assert search.val_size is not None and search.val_size >= 0.2 * search.num_samples - 1  # the 20% floor
        assert store.confirmation_runs(search_id=search.id) == []
        best = store.best_trial(search_id=search.id)
        (row,) = store.best_schedules(dataset="digits")
        assert best is not None and row.trial_id == best.id and row.seeds is None and row.val_low is None
        answer = recommend(store, "digits", num_samples=search.num_samples)
    assert answer.confidence is None and "did not re-evaluate" in answer.confidence_note
    study = optuna.load_study(study_name=search.study_name, storage=sqlite_search.url)
    assert "prs_confirmation" not in study.user_attrs


@pytest.mark.postgres
def test_postgres_search_agrees_with_ray_and_optuna(postgres_search: FinishedSearch) -> None:
    with ResultsStore(postgres_search.url, migrate=False) as store:
        assert store.engine.dialect.name == "postgresql"
        assert_search_agrees(store, postgres_search)
