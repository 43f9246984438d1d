"""Shared pieces of the search tests: a tiny search request, the CLI in a subprocess, and the check that
the SQL store, Ray Tune's results and the Optuna study tell the same story about a finished search."""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FixedTrial, TrialState

from prs_search.search import SearchJob
from prs_search.search.spaces import load_space
from prs_search.store import ResultsStore, SearchRecord, TrialRecord

CLI = Path(sys.executable).with_name("prs-search")
TINY_DEPTH = 4  # the `tiny` preset's number of blocks

# `monotone_stem_lr` searches the stem and the learning rate besides the schedule. On 43 validation
# images after an epoch or two, schedules alone give the same accuracy in every trial (the switch
# preserves the function and the attention parameters have barely moved), and ASHA stops a trial only
# when it is strictly below the rung's cutoff: with ties it never stops any. The searched learning
# rate and stem make trials differ, so ASHA has something to prune.
TINY_SEARCH: dict[str, Any] = {
    "dataset": "digits",
    "fraction": 0.3,
    "space": "monotone_stem_lr",
    "epochs": 3,
    "model": "tiny",
    "cpus_per_trial": 1.0,
    "max_concurrent": 2,
    "grace_period": 1,
    "reduction_factor": 2,
    "confirm_top": 0,  # the finalists' re-evaluation has its own tests (test_confirm.py)
}


def tiny_request(tmp: Path, database_url: str, *, budget: int, name: str, **overrides: Any) -> SearchJob:
    fields = {**TINY_SEARCH, **overrides}
    return SearchJob(
        budget=budget, database_url=database_url, name=name, storage_path=tmp / "ray",
        data_dir=tmp / "data", **fields,
    )  # fmt: skip


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment for a `prs-search` subprocess: nothing from the caller's PRS_* or RAY_ADDRESS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRS_") and k != "RAY_ADDRESS"}
    return {**env, "PRS_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 120) -> CliResult:
    started = time.monotonic()
    done = subprocess.run([str(CLI), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    return CliResult(done.returncode, done.stdout, done.stderr, time.monotonic() - started)


@dataclass(frozen=True)
class FinishedSearch:
    """A search run once by a fixture, for several tests to inspect."""

    url: str
    name: str
    request: SearchJob
    summary: Any  # prs_search.search.SearchSummary
    seconds: float


def assert_search_agrees(store: ResultsStore, finished: FinishedSearch) -> None:
    """SQL rows == Ray Tune's result files == the Optuna study, for one finished search."""
    request = finished.request
    search = store.get_search(name_or_id=finished.name)
    assert search is not None
    assert search.status == "finished", search.error
    rows, total = store.list_trials(search_id=search.id, limit=1000)
    assert total == len(rows) == request.budget
    assert sorted(t.optuna_number for t in rows) == list(range(request.budget))
    assert all(t.ray_trial_id for t in rows)
    assert len({t.ray_trial_id for t in rows}) == request.budget

    epochs = {t.id: _check_trial_rows(store, t, request.epochs) for t in rows}
    _check_optuna(search, rows, epochs, store.url)
    _check_ray_results(rows, epochs, Path(request.storage_path), finished.name)
    _check_outcome(store, search, rows)

    counts = finished.summary.counts
    assert counts["RUNNING"] == 0
    for state in ("COMPLETE", "PRUNED", "FAIL"):
        assert counts[state] == sum(1 for t in rows if t.state == state)


def _check_trial_rows(store: ResultsStore, trial: TrialRecord, epochs: int) -> list[Any]:
    assert trial.state in ("COMPLETE", "PRUNED", "FAIL"), trial
    assert trial.finished_at is not None
    assert len(trial.schedule) == TINY_DEPTH
    assert all(isinstance(e, int) and 0 <= e <= epochs for e in trial.schedule), trial.schedule
    rows = store.epoch_metrics(trial_id=trial.id)
    assert [e.epoch for e in rows] == list(range(trial.epochs_run))
    assert 1 <= trial.epochs_run <= epochs
    for e in rows:
        assert 0.0 <= e.val_acc <= 1.0
        assert e.attention_layers == sum(1 for s in trial.schedule if e.epoch >= s)
    assert trial.val_acc == rows[-1].val_acc
    assert trial.best_val_acc == max(e.val_acc for e in rows)
    return rows


def _check_optuna(search: SearchRecord, rows: list[TrialRecord], epochs: dict[int, list[Any]], url: str) -> None:
    study = optuna.load_study(study_name=search.study_name, storage=url)
    frozen = study.get_trials(deepcopy=False)
    assert len(frozen) == len(rows)
    by_number = {t.optuna_number: t for t in rows}
    space = load_space(search.space)
    for ot in frozen:
        row = by_number[ot.number]
        assert ot.state == TrialState[str(row.state)], (ot.number, ot.state, row.state)
        if ot.state == TrialState.COMPLETE:
            assert ot.value == row.val_acc
        # One intermediate value per epoch run, keyed by the number of epochs done (1..epochs_run).
        assert ot.intermediate_values == {e.epoch + 1: e.val_acc for e in epochs[row.id]}
        # The SQL row's schedule and hyper-parameters are what Optuna's parameters mean in this space.
        drawn = space.sample(FixedTrial(ot.params), TINY_DEPTH, search.epochs)
        assert drawn["schedule"] == list(row.schedule)
        assert drawn["train"] == row.params


def _check_ray_results(rows: list[TrialRecord], epochs: dict[int, list[Any]], storage: Path, name: str) -> None:
    """Ray Tune's own record of each trial (result.json in its trial folder) has the same epochs."""
    folders = {p.name.rsplit("_", 1)[-1]: p for p in storage.glob(f"{name}-*/trial_*") if p.is_dir()}
    assert set(folders) == {t.ray_trial_id for t in rows}
    for trial in rows:
        lines = (folders[trial.ray_trial_id] / "result.json").read_text().splitlines()
        reported = [json.loads(line) for line in lines if line.strip()]
        assert {r["config"]["optuna_number"] for r in reported} == {trial.optuna_number}
        assert [(r["epoch"], r["val_acc"]) for r in reported] == [(e.epoch, e.val_acc) for e in epochs[trial.id]]


def _check_outcome(store: ResultsStore, search: SearchRecord, rows: list[TrialRecord]) -> None:
    complete = [t for t in rows if t.state == "COMPLETE"]
    assert complete, "no trial completed"
    best_acc = max(t.val_acc or 0.0 for t in complete)
    assert search.test_acc is not None and 0.0 <= search.test_acc <= 1.0
    evaluated = next(t for t in rows if t.id == search.test_trial_id)
    assert evaluated.state == "COMPLETE" and evaluated.val_acc == best_acc
    assert evaluated.checkpoint_path
    best = store.best_trial(search_id=search.id)
    assert best is not None and best.id == evaluated.id

    (row,) = [b for b in store.best_schedules(dataset=search.dataset) if b.num_samples == search.num_samples]
    assert (row.search_id, row.search_name, row.trial_id) == (search.id, search.name, evaluated.id)
    assert row.schedule == evaluated.schedule
    assert row.val_acc == best_acc
    assert row.test_acc == search.test_acc
    assert (row.epochs, row.model) == (search.epochs, search.model)
