"""What installing prs-search puts where: one package, `prs_search`, holding the REST API (from api/) and
the built-in search spaces (from search_spaces/), in an editable install and in a wheel alike."""

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
# Imports the installed package from a folder outside the repository, so that neither the repository's api/
# nor its prs_search/ can be imported by accident (a script's folder is the first entry of sys.path).
CHECK = """
import importlib.util, sys
import prs_search
from prs_search.api.main import create_app
from prs_search.search.spaces import list_spaces, load_space
from prs_search.analysis.report import _template
assert importlib.util.find_spec("api") is None, "a bare `api` package is importable"
assert {"free", "linear", "monotone"} <= set(list_spaces()), list_spaces()
assert load_space("monotone").schedule == "monotone"
assert "prs-search report" in _template().render(name="x", sections=[])
print(prs_search.__file__)
"""


def package_folders() -> dict[str, Path]:
    """Every package of the repository (a folder with an __init__.py), by the name it installs as."""
    roots = {"prs_search": ROOT / "prs_search"} | {name: ROOT / d for name, d in SETUPTOOLS["package-dir"].items()}
    found = {}
    for name, root in roots.items():
        for init in root.rglob("__init__.py"):
            relative = init.parent.relative_to(root).parts
            if "__pycache__" not in relative:
                found[".".join((name, *relative))] = init.parent
    return found


def test_every_package_folder_is_listed_in_pyproject() -> None:
    assert sorted(SETUPTOOLS["packages"]) == sorted(package_folders())


def run_check(cwd: Path, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=cwd, env={"PATH": "/usr/bin:/bin", **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_editable_install_finds_the_api_and_the_spaces_by_name(tmp_path: Path) -> None:
    assert Path(run_check(tmp_path)) == ROOT / "prs_search" / "__init__.py"


@pytest.mark.slow
def test_the_wheel_holds_one_package_with_the_api_spaces_template_and_migrations(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: building in the repository would leave build/ behind
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in ("prs_search", "api", "search_spaces"):
        shutil.copytree(ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    wheels = tmp_path / "wheels"
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)], check=True)
    (wheel,) = wheels.glob("prs_search-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"prs_search", wheel.name.split("-py")[0] + ".dist-info"}
    for expected in (
        "prs_search/api/main.py", "prs_search/api/routes/searches.py", "prs_search/search_spaces/monotone.yaml",
        "prs_search/analysis/templates/report.html.j2", "prs_search/store/migrations/versions/0004_epoch_layers.py",
    ):  # fmt: skip
        assert expected in names

    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True)
    # The wheel's package comes first on the path (before this environment's editable one); its
    # dependencies come from this environment.
    assert Path(run_check(tmp_path, PYTHONPATH=str(site))) == site / "prs_search" / "__init__.py"
