"""Running `prs-search run` in the background while a test breaks something, and reading back what Ray,
SQL and Optuna recorded."""

import json
import logging
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from search.helpers import CLI, FinishedSearch

from prs_search.search import SearchJob
from prs_search.store import ResultsStore, TrialRecord

log = logging.getLogger(__name__)

# SearchJob fields that `prs-search run` takes as options of the same name.
_NOT_OPTIONS = {"database_url", "storage_path", "data_dir", "ray_address", "max_failures", "origin", "parent_pid"}


def run_args(request: SearchJob) -> list[str]:
    """The `prs-search run` command line for `request` (storage and data folders go by environment)."""
    args = ["run", "--db", request.database_url]
    if request.ray_address:
        args += ["--ray-address", request.ray_address]
    for name in SearchJob.model_fields:
        value, option = getattr(request, name), f"--{name.replace('_', '-')}"
        if name in _NOT_OPTIONS or value is None or value is False:
            continue
        args += [option] if value is True else [option, str(value)]
    return args


@dataclass
class BackgroundSearch:
    """`prs-search run` in a subprocess, its output in `log_path`."""

    request: SearchJob
    process: subprocess.Popen[bytes]
    log_path: Path
    started: float

    @classmethod
    def start(cls, request: SearchJob, env: dict[str, str], folder: Path) -> "BackgroundSearch":
        env = {**env, "PRS_STORAGE_PATH": str(request.storage_path), "PRS_DATA_DIR": str(request.data_dir)}
        log_path = folder / f"{request.name}.log"
        with log_path.open("wb") as out:
            process = subprocess.Popen(
                [str(CLI), *run_args(request)], env=env, cwd=folder, stdout=out, stderr=subprocess.STDOUT
            )
        return cls(request, process, log_path, time.monotonic())

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_until(self, ready: Callable[[], Any], what: str, timeout: float = 180) -> Any:
        """Poll `ready()` until it returns something truthy, while the search still runs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"the search ended before {what}:\n{self.output()[-3000:]}"
            found = ready()
            if found:
                return found
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting for {what}")

    def finish(self, timeout: float = 300) -> float:
        """Wait for a successful exit; returns the search's wall time."""
        try:
            code = self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
        assert code == 0, f"prs-search run exited with {code}:\n{self.output()[-4000:]}"
        return time.monotonic() - self.started

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)


def running_trials(store: ResultsStore, name: str) -> list[TrialRecord]:
    search = store.get_search(name_or_id=name)
    if search is None:
        return []
    return [t for t in store.list_trials(search_id=search.id)[0] if t.state == "RUNNING"]


def ray_reports(storage: Path, name: str, optuna_number: int) -> list[dict[str, Any]]:
    """Every result Ray Tune recorded for one Optuna trial (its trial folders' result.json, in order)."""
    reports = []
    for result_file in sorted(storage.glob(f"{name}-*/trial_{optuna_number:04d}_*/result.json")):
        reports += [json.loads(line) for line in result_file.read_text().splitlines() if line.strip()]
    return reports


def finished_search(request: SearchJob, store: ResultsStore, seconds: float) -> FinishedSearch:
    """What `assert_search_agrees` inspects, for a search the CLI ran."""
    search = store.get_search(name_or_id=request.name or "")
    assert search is not None, f"no search {request.name!r}"
    counts = {str(k): v for k, v in store.trial_counts(search_id=search.id).items()}
    return FinishedSearch(store.url, search.name, request, SimpleNamespace(counts=counts), seconds)


def epoch_rows(store: ResultsStore, name: str) -> dict[int, list[int]]:
    """Optuna trial number -> the epochs stored for it, in order."""
    search = store.get_search(name_or_id=name)
    assert search is not None
    return {
        t.optuna_number or 0: [e.epoch for e in store.epoch_metrics(trial_id=t.id)]
        for t in store.list_trials(search_id=search.id)[0]
    }
