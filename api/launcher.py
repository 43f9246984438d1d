"""Starting searches for `POST /v1/searches`: `prs-search run` in a background process.

The API never runs Ray or training in its own process. The validated `SearchRequest` is handed, whole and
as JSON, to `prs-search run-request JSON` (what `prs-search run` does, for a request instead of options),
started in its own session (it outlives the API), with `PRS_DATABASE_URL` set to the API's database (and
`RAY_ADDRESS` from the settings), output appended to `<runs dir>/NAME.log`. The search row appears in the
database once the run has loaded its data and built its model (seconds to minutes); until then
`Launcher.describe(NAME)` says it is starting, or how the process ended if it failed early.

Runner `none` (`PRS_API_RUNNER=none`) validates and records the request in the same way but starts
nothing: for tests and dry runs.

Launches are remembered by this process only; another API worker answers a plain 404 until the row
exists.
"""

import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from prs_search.schemas import SearchRequest

from .errors import ConflictError
from .settings import Runner

log = logging.getLogger(__name__)

LOG_TAIL_BYTES = 4096
RUN_REQUEST = "run-request"  # the hidden `prs-search` command that runs one JSON request
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
    """Starts `prs-search run` processes and remembers them; safe to share between request threads."""

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
        return [*self.program, RUN_REQUEST, request.model_dump_json()]

    def launch(self, name: str, request: SearchRequest) -> Launch:
        """Start (or, runner `none`, only record) the search `name` that `request` asks for.
        A launch of the same name that has not exited -> `ConflictError`."""
        # The base model, named: the child validates it again as a plain SearchRequest.
        named = SearchRequest.model_validate({**request.model_dump(mode="json"), "name": name})
        command = self.command(named)
        launch = Launch(name=name, runner=self.runner, command=command, accepted_at=datetime.now(UTC))
        with self._lock:
            self._reap()
            known = self._launches.get(name)
            if known is not None and known.state != "exited":
                raise ConflictError(f"a search named {name!r} was just accepted and is starting")
            if self.runner == "subprocess":
                launch.log_path, launch.process = self._spawn(name, command)
            self._launches[name] = launch
        log.info("search %s accepted (%s runner, pid %s)", name, self.runner, launch.pid)
        return launch

    def get(self, name: str) -> Launch | None:
        with self._lock:
            return self._launches.get(name)

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
        tail = _last_line(launch.log_path)
        return (
            f"search {name!r} started at {when} exited with code {launch.returncode} before registering"
            + (f": {tail}" if tail else "")
            + (f" (log: {launch.log_path})" if launch.log_path else "")
        )

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
                start_new_session=True,  # a search outlives the API that started it
            )  # fmt: skip
        return log_path, process

    def _reap(self) -> None:
        """Collect the exit status of finished children (no zombies); caller holds the lock."""
        for launch in self._launches.values():
            if launch.process is not None:
                launch.process.poll()


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
