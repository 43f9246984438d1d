"""The dividing line of docs/DESIGN.md, kept by ruff: the model, its data and one trial's training import no Ray,
Optuna, SQLAlchemy, FastAPI or typer (the banned-api rule TID251 in pyproject.toml, lifted outside those paths).

Each snippet is checked by ruff as if it were a file at the given path of this repository (--stdin-filename),
with the repository's own configuration, so a mistyped glob in pyproject.toml fails here.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# A banned package or one of its submodules, each used once so that nothing but the ban can fire.
BANNED = ["ray.tune", "optuna", "sqlalchemy.orm", "fastapi", "typer"]
CORE = [
    "prs_search/model/x.py",
    "prs_search/data/x.py",
    "prs_search/train.py",
    "prs_search/schedule.py",
    "prs_search/recipe.py",
    "prs_search/switching.py",
    "prs_search/step_flops.py",
]
ADAPTERS = ["prs_search/search/x.py", "prs_search/store/x.py", "prs_search/cli/x.py", "api/x.py"]


def _ruff() -> str:
    """The ruff next to the running interpreter (the project's venv), else one on PATH."""
    beside = Path(sys.executable).parent / "ruff"
    if beside.exists():
        return str(beside)
    found = shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    return found


def _codes(path: str, module: str) -> list[str]:
    """The rule codes ruff reports for a snippet importing `module`, checked as the file at `path`."""
    snippet = f"import {module} as banned\n\nUSED = banned\n"
    done = subprocess.run(
        [_ruff(), "check", "--no-cache", "--output-format", "json", "--stdin-filename", path, "-"],
        input=snippet,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    return [finding["code"] for finding in json.loads(done.stdout)]


@pytest.mark.parametrize("module", BANNED)
@pytest.mark.parametrize("path", CORE)
def test_the_core_may_not_import_a_framework(path: str, module: str) -> None:
    assert _codes(path, module) == ["TID251"]


@pytest.mark.parametrize("module", BANNED)
@pytest.mark.parametrize("path", ADAPTERS)
def test_the_adapters_may(path: str, module: str) -> None:
    assert _codes(path, module) == []
