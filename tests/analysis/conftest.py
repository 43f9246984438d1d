"""Fixtures for the analysis tests: one real tiny search (Ray Tune + Optuna + SQLite) shared by the
report, study and `analyze fourier --search` tests, and one real `prs-search train --save` checkpoint."""

import subprocess
import time
from pathlib import Path

import pytest
from search.helpers import CLI, FinishedSearch, cli_env, tiny_request

from prs_search.search import cluster, run_search

TRAIN_ARGS = [
    "--dataset", "digits", "--model", "tiny", "--fraction", "0.3", "--epochs", "2", "--schedule", "linear:2,0",
]  # fmt: skip


@pytest.fixture(scope="session")
def finished_search(tmp_path_factory: pytest.TempPathFactory) -> FinishedSearch:
    """A finished 4-trial search of digits (431 images, 3 epochs) in its own SQLite file."""
    tmp = tmp_path_factory.mktemp("analysis_search")
    request = tiny_request(tmp, f"sqlite:///{tmp / 'prs.db'}", budget=4, name="analysis")
    started = time.monotonic()
    try:
        summary = run_search(request)
    finally:
        cluster.shutdown()
    assert summary.search.status == "finished", summary.search.error
    return FinishedSearch(request.database_url, request.name or "", request, summary, time.monotonic() - started)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint written by a real `prs-search train --save` (digits, 431 images, 2 epochs, 2,1,1,0)."""
    tmp = tmp_path_factory.mktemp("checkpoint")
    path = tmp / "model.pt"
    env = cli_env(tmp / "home", OMP_NUM_THREADS="1")
    done = subprocess.run(
        [str(CLI), "train", *TRAIN_ARGS, "--json", "--save", str(path)],
        env=env, cwd=tmp, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return path
