"""The built-in search spaces: one YAML file per space, `NAME.yaml` (the format: `prs_search.search.spaces`).

This folder sits at the top of the repository and installs as the package `prs_search.search_spaces`
(see pyproject.toml), so the spaces are found by that name in a source checkout installed in editable
mode and in an installed wheel alike. A file added here is a new built-in space. Nothing here imports
torch: the REST API lists the spaces without loading the trainer.
"""

from importlib.resources import files
from importlib.resources.abc import Traversable

SUFFIX = ".yaml"


def builtin_spaces() -> dict[str, Traversable]:
    """Every built-in space file, by space name, sorted by name."""
    entries = (entry for entry in files(__name__).iterdir() if entry.name.endswith(SUFFIX) and entry.is_file())
    return {entry.name.removesuffix(SUFFIX): entry for entry in sorted(entries, key=lambda entry: entry.name)}
