"""Starting searches for `POST /v1/searches`: `prs-search run` in a background process, and ending them.

The API never runs Ray or training in its own process. The validated `SearchRequest` is handed, whole and
as JSON, to `prs-search run-request JSON --parent PID` (what `prs-search run` does, for a request instead
of options), started in its own session, with `PRS_DATABASE_URL` set to the API's database (and
`RAY_ADDRESS` from the settings), output appended to `<runs dir>/NAME.log`. The search row appears in the
database once the run has loaded its data and built its model (seconds to minutes); until then
`Launcher.describe(NAME)` says it is starting, or that it ended early (the reason is in the log, which
only the server sees: the log names server paths and can echo folder listings).

Children end with the API: `shutdown()` (the app's shutdown) interrupts them (SIGINT: Ray Tune stops the
trials and the search is marked `interrupted`, resumable with `prs-search run --name NAME --resume`) and
kills what is left after `STOP_GRACE_S`; an API killed outright is noticed by each child within one
lease heartbeat (`--parent PID` is no longer its parent), which then stops the same way. A restarted API
does not adopt searches: their finished trials are in the database, and the CLI resumes them.

Runner `none` (`PRS_API_RUNNER=none`) validates and records the request in the same way but starts
nothing: for tests and dry runs. Launches are remembered by this process only; the limit on running
searches also counts the drivers other API processes started (their leases in the database).
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from prs_search.errors import ConflictError
from prs_search.processes import this_machine
from prs_search.search_request import SearchRequest

from .errors import TooManySearchesError
from .settings import Runner

log = logging.getLogger(__name__)

LOG_TAIL_BYTES = 4096
RUN_REQUEST = "run-request"  # the hidden `prs-search` command that runs one JSON request
STOP_GRACE_S = 30.0  # after SIGINT, how long a child may take to stop its trials before it is killed
# Environment the child must not inherit (it needs the database, not the API's credentials).
_PRIVATE_ENV = ("PRS_API_TOKEN",)


@dataclass
class Launch:
    """One accepted search request."""

    name: str
    runner: Runner
    command: list[str]
    accepted_at: datetime
    log_path: Path | None = None
    process: "subprocess.Popen[bytes] | None" = field(default=None, repr=False)
    logged_exit: bool = False

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    @property
    def state(self) -> str:
        """`accepted` (runner none), `starting` (process alive), `exited` (process ended)."""
        if self.process is None:
            return "accepted"
        return "starting" if self.returncode is None else "exited"


class Launcher:
    """Starts `prs-search run` processes, remembers and ends them; safe to share between request threads."""

    def __init__(
        self,
        runner: Runner,
        runs_dir: Path,
        database_url: str,
        ray_address: str | None = None,
        program: list[str] | None = None,
    ) -> None:
        self.runner = runner
        self.runs_dir = runs_dir
        self.database_url = database_url
        self.ray_address = ray_address
        self.program = program or default_program()
        self._launches: dict[str, Launch] = {}
        self._lock = threading.Lock()

    def command(self, request: SearchRequest) -> list[str]:
        """The command line that runs `request`: the request itself travels, as one JSON argument."""
        return [*self.program, RUN_REQUEST, request.model_dump_json(), "--parent", str(os.getpid())]

    def launch(
        self,
        name: str,
        request: SearchRequest,
        *,
        limit: int | None = None,
        elsewhere: Callable[[], set[tuple[str, int]]] = set,
    ) -> Launch:
        """Start (or, runner `none`, only record) the search `name` that `request` asks for.

        A launch of the same name that has not exited -> `ConflictError`. With `limit`: when this process's
        running children plus `elsewhere()` (the other API-started drivers, as (machine, pid)) reach it ->
        `TooManySearchesError`."""
        # The base model, named: the child validates it again as a plain SearchRequest.
        named = SearchRequest.model_validate({**request.model_dump(mode="json"), "name": name})
        command = self.command(named)
        launch = Launch(name=name, runner=self.runner, command=command, accepted_at=datetime.now(UTC))
        with self._lock:  # one check-and-start at a time, or two requests could both take the last place
            self._reap()
            known = self._launches.get(name)
            if known is not None and known.state != "exited":
                raise ConflictError(f"a search named {name!r} was just accepted and is starting")
            if limit is not None and self.runner == "subprocess":
                running = {(this_machine(), pid) for pid in self._running_pids()} | elsewhere()
                if len(running) >= limit:
                    raise TooManySearchesError(
                        f"{len(running)} searches started through this API are running, the most it runs at once "
                        f"(PRS_API_MAX_SEARCHES={limit}); retry when one has ended, or cancel one"
                    )
            if self.runner == "subprocess":
                launch.log_path, launch.process = self._spawn(name, command)
            self._launches[name] = launch
        log.info("search %s accepted (%s runner, pid %s)", name, self.runner, launch.pid)
        return launch

    def get(self, name: str) -> Launch | None:
        with self._lock:
            return self._launches.get(name)

    def running(self) -> list[Launch]:
        """The launches whose process still runs."""
        with self._lock:
            self._reap()
            return [launch for launch in self._launches.values() if launch.state == "starting"]

    def describe(self, name: str) -> str | None:
        """A sentence about a search this API accepted that has no row yet (None: not launched here)."""
        launch = self.get(name)
        if launch is None:
            return None
        when = launch.accepted_at.isoformat(timespec="seconds")
        if launch.state == "accepted":
            return f"search {name!r} was accepted at {when} but not started (PRS_API_RUNNER=none)"
        if launch.state == "starting":
            return (
                f"search {name!r} was started at {when} (pid {launch.pid}) and is loading its data; "
                "it appears here once it has registered, retry shortly"
            )
        self._log_exit(launch)
        return (
            f"search {name!r} started at {when} exited with code {launch.returncode} before registering "
            f"(the reason is in the API's run log {name}.log)"
        )

    def stop(self, name: str, grace_s: float = STOP_GRACE_S) -> bool:
        """End the child running `name`, if this process started one that still runs; whether it did."""
        launch = self.get(name)
        if launch is None or launch.process is None or launch.returncode is not None:
            return False
        _end([launch], grace_s)
        return True

    def shutdown(self, grace_s: float = STOP_GRACE_S) -> None:
        """End every child still running (the API is stopping): SIGINT, then SIGKILL after `grace_s`."""
        running = self.running()
        if running:
            log.warning("stopping %d search(es) this API started: %s", len(running), ", ".join(r.name for r in running))
            _end(running, grace_s)

    def _running_pids(self) -> set[int]:
        return {launch.pid for launch in self._launches.values() if launch.state == "starting" and launch.pid}

    def _spawn(self, name: str, command: list[str]) -> "tuple[Path, subprocess.Popen[bytes]]":
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.runs_dir / f"{name}.log"
        env = {k: v for k, v in os.environ.items() if k not in _PRIVATE_ENV}
        env["PRS_DATABASE_URL"] = self.database_url
        if self.ray_address:
            env["RAY_ADDRESS"] = self.ray_address
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                # Its own process group: a Ctrl-C meant for the API's terminal does not reach it unasked, and
                # shutdown() can kill it with everything it started.
                start_new_session=True,
            )  # fmt: skip
        return log_path, process

    def _reap(self) -> None:
        """Collect the exit status of finished children (no zombies); caller holds the lock."""
        for launch in self._launches.values():
            if launch.process is not None and launch.process.poll() is not None:
                self._log_exit(launch)

    @staticmethod
    def _log_exit(launch: Launch) -> None:
        if launch.logged_exit or launch.returncode in (None, 0):
            return
        launch.logged_exit = True
        log.warning(
            "search %s (pid %s) exited with code %s: %s (log: %s)", launch.name, launch.pid, launch.returncode,
            _last_line(launch.log_path), launch.log_path,
        )  # fmt: skip


def _end(launches: list[Launch], grace_s: float) -> None:
    """SIGINT each child (Ray Tune then stops its trials and the search is marked interrupted), and SIGKILL
    the process group of any still running after `grace_s`."""
    for launch in launches:
        if launch.process is not None and launch.process.poll() is None:
            launch.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for launch in launches:
        if launch.process is None:
            continue
        try:
            launch.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            log.warning("search %s (pid %s) did not stop in %.0f s: killed", launch.name, launch.pid, grace_s)
        with contextlib.suppress(ProcessLookupError, PermissionError):  # Ray's processes it started: its group
            os.killpg(launch.process.pid, signal.SIGKILL)
        launch.process.wait()


def default_program() -> list[str]:
    """The `prs-search` console script beside this interpreter, else `python -m prs_search`."""
    script = Path(sys.executable).with_name("prs-search")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "prs_search"]


def _last_line(path: Path | None) -> str:
    if path is None or not path.exists():
        return ""
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - LOG_TAIL_BYTES, 0))
        lines = [line.strip() for line in f.read().decode(errors="replace").splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""
