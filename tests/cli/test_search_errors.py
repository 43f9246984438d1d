"""Bad input to `prs-search run` / `trials`: exit code 2, exactly one line on stderr (no traceback, no retry
warnings), no Ray, no search row left behind. How fast they fail is measured in
benchmarks/cli_fail_fast.py, not asserted here (a loaded machine is slow, not wrong); what is asserted is
the order that makes it fast: a bad Ray address is refused before the dataset is even looked at."""

import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from search.helpers import CliResult, cli_env, run_cli

from prs_search.schemas import NewSearch
from prs_search.store import ResultsStore

TINY = ["--dataset", "digits", "--fraction", "0.3", "--epochs", "2", "--budget", "2", "--model", "tiny"]
SPACES = {
    "weird.yaml": "schedule: weird\n",
    # A space whose fixed `initial` schedule has 5 switch epochs: the tiny model has 4 layers.
    "five_layers.yaml": "schedule: monotone\ninitial: ['2,2,1,0,0']\n",
    "good.yaml": "schedule: linear\ninitial: [prs, '2,1,1,0']\ntrain: {lr: 0.01}\n",
    "binary.yaml": b"\xff\xfeschedule: free\n",  # UTF-16 from an editor: not the YAML text expected
    "dense.yaml": "schedule: monotone\ntrain: {conv: dense}\n",
}


@dataclass(frozen=True)
class Stored:
    """A search of digits (TINY's size) that the default database holds before the command runs."""

    name: str
    status: str
    budget: int = 2


DONE = (Stored("done", "finished"),)
# Oldest first. Every one of them was run with another budget than TINY's, so whichever `--resume` picks is
# named in its refusal before Ray starts.
CLOSED_AND_INTERRUPTED = (
    Stored("stopped", "interrupted", budget=5),
    Stored("broke", "failed", budget=5),
    Stored("dropped", "cancelled", budget=5),
    Stored("done", "finished", budget=5),
)


@dataclass(frozen=True)
class Case:
    args: list[str]
    expected: str  # part of the one error line
    starts_ray: bool = False  # refused only by what the Ray instance it joined has
    stored: tuple[Stored, ...] = ()


CASES = {
    "unknown-dataset": Case(["run", "--dataset", "no-such-data", "--budget", "2"], "unknown dataset 'no-such-data'"),
    "unknown-space": Case(["run", *TINY, "--space", "no-such-space"], "unknown search space 'no-such-space'"),
    "budget-zero": Case(["run", "--dataset", "digits", "--budget", "0"], "--budget"),
    "budget-negative": Case(["run", "--dataset", "digits", "--budget", "-3"], "--budget"),
    "epochs-zero": Case(["run", *TINY, "--epochs", "0"], "--epochs"),
    "space-unknown-schedule-kind": Case(
        ["run", *TINY, "--space", "weird.yaml"], "'schedule' must be one of free, monotone, linear, got 'weird'"
    ),
    "space-initial-does-not-fit-depth": Case(
        ["run", *TINY, "--space", "five_layers.yaml"],
        "initial schedule '2,2,1,0,0' does not fit: the schedule has 5 switch epochs but the model has 4 layers",
    ),
    "unreachable-database": Case(
        ["run", *TINY, "--db", "postgresql+psycopg://postgres@127.0.0.1:1/x"], "cannot reach the database"
    ),
    "bad-ray-address": Case(["run", *TINY, "--ray-address", "127.0.0.1:1"], "Ray cluster at 127.0.0.1:1"),
    # The address is checked before the data is loaded: a missing image folder is never reached.
    "bad-ray-address-before-data": Case(
        ["run", "--dataset", "imagefolder:/no/such/folder", "--budget", "2", "--ray-address", "127.0.0.1:1"],
        "Ray cluster at 127.0.0.1:1",
    ),
    "name-of-digits": Case(["run", *TINY, "--name", "123"], "must not be all digits"),
    # Looked up, " 1" would be read as id 1: the search "done" here.
    "name-of-digits-and-spaces": Case(["run", *TINY, "--name", " 1"], "must not be all digits", stored=DONE),
    # The newest ones that cannot continue are passed over: the interrupted one is picked.
    "resume-picks-one-that-can-continue": Case(
        ["run", *TINY, "--resume"], "search 'stopped' exists with budget=5, not 2", stored=CLOSED_AND_INTERRUPTED
    ),
    # Control for the space cases: a valid user file passes the space, data and database checks and
    # fails only at the next step, the unreachable Ray address.
    "good-space-then-bad-ray-address": Case(
        ["run", *TINY, "--space", "good.yaml", "--ray-address", "127.0.0.1:1"], "Ray cluster at 127.0.0.1:1"
    ),
    "fraction-and-num-samples": Case(
        ["run", "--dataset", "digits", "--budget", "2", "--fraction", "0.5", "--num-samples", "100"],
        "either --fraction or --num-samples",
    ),
    "trials-of-unknown-search": Case(["trials", "no-such-search"], "no search named 'no-such-search'"),
    "ray-port-out-of-range": Case(["run", *TINY, "--ray-address", "127.0.0.1:99999"], "bad Ray address"),
    "space-not-text": Case(["run", *TINY, "--space", "binary.yaml"], "is not UTF-8 text"),
    "space-a-folder": Case(["run", *TINY, "--space", "folder.yaml"], "cannot read the search space file"),
    "nothing-to-resume": Case(["run", *TINY, "--name", "ghost", "--resume"], "nothing to resume: no search named"),
    "other-options-for-a-finished-search": Case(
        ["run", *TINY, "--name", "done", "--epochs", "5"], "search 'done' exists with epochs=2, not 5", stored=DONE
    ),
    "conv-unknown": Case(["run", *TINY, "--conv", "depthwise"], "--conv"),
    "conv-against-the-space": Case(
        ["run", *TINY, "--space", "dense.yaml", "--conv", "shift"], "search space dense fixes conv=dense"
    ),
    # Recorded before the conv variants existed (no "conv" in its model config): it ran shift.
    "other-conv-for-a-finished-search": Case(
        ["run", *TINY, "--name", "done", "--conv", "dense"],
        "search 'done' exists with conv='shift', not 'dense'",
        stored=DONE,
    ),
    # More GPUs than any node has (none here): said at once, where Tune would wait for them for ever.
    "gpus-beyond-the-cluster": Case(
        ["run", *TINY, "--gpus-per-trial", "64"], "--gpus-per-trial 64 is more than any node", starts_ray=True
    ),
}


@dataclass(frozen=True)
class Outcome:
    result: CliResult
    home: Path
    ray_tmp: Path


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every case run once, two at a time (each CLI start is mostly importing torch and Ray)."""
    folders = {case_id: tmp_path_factory.mktemp(case_id) for case_id in CASES}  # not thread-safe: here

    def run(case_id: str) -> Outcome:
        folder = folders[case_id]
        for name, content in SPACES.items():
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        (folder / "folder.yaml").mkdir()
        home, ray_tmp = folder / "home", folder / "ray_tmp"
        if CASES[case_id].starts_ray:  # short: Ray's socket paths must fit in 107 bytes
            ray_tmp = Path(tempfile.mkdtemp(prefix="prs-ray-"))
        if CASES[case_id].stored:
            home.mkdir()
            _store_searches(f"sqlite:///{home / 'prs_search.db'}", CASES[case_id].stored)
        env = cli_env(home, RAY_TMPDIR=str(ray_tmp))
        return Outcome(run_cli(CASES[case_id].args, env, cwd=folder), home, ray_tmp)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


def _store_searches(url: str, searches: tuple[Stored, ...]) -> None:
    with ResultsStore(url) as store:
        for stored in searches:
            search = store.create_search(NewSearch(
                name=stored.name, dataset="digits", num_samples=431, fraction=0.3, space="monotone", space_config={},
                budget=stored.budget, epochs=2, model="tiny", model_config={}, stem="conv", seed=0,
                study_name=f"prs-{stored.name}",
            ))  # fmt: skip
            store.set_search_status(search_id=search.id, status=stored.status)


@pytest.mark.parametrize("case_id", list(CASES))
def test_bad_input_is_one_line_and_exit_2(case_id: str, outcomes: dict[str, Outcome]) -> None:
    outcome, case = outcomes[case_id], CASES[case_id]
    result = outcome.result
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert result.stderr.strip() == lines[0]  # no blank lines or progress bar around it either
    assert lines[0].startswith("error: ")
    assert case.expected in lines[0]


@pytest.mark.parametrize("case_id", [c for c in CASES if CASES[c].args[0] == "run"])
def test_bad_input_starts_no_ray_and_leaves_no_search(case_id: str, outcomes: dict[str, Outcome]) -> None:
    outcome, case = outcomes[case_id], CASES[case_id]
    if not case.starts_ray:
        assert not outcome.ray_tmp.exists() or not any(outcome.ray_tmp.iterdir()), "Ray was started"
    default_db = outcome.home / "prs_search.db"
    if default_db.exists():
        with ResultsStore(f"sqlite:///{default_db}") as store:
            rows, _ = store.list_searches()
            # Nothing new, and what was there is as it was.
            assert sorted((r.name, r.status, r.budget) for r in rows) == sorted(
                (s.name, s.status, s.budget) for s in case.stored
            )
